"""The README's pictures of the embedded renderer's default look (issue 12), rebuilt from the code:

    .venv/bin/python scripts/contact_sheet.py                      # both images into docs/images/
    .venv/bin/python scripts/contact_sheet.py --only sheet         # or --only frames; --out DIR elsewhere

1. docs/images/assets_contact_sheet.png: one column per COCO class we render (person twice: the man's and the
   woman's model), the primitive body (top row) beside the 0 A.D. model walking (three phases of its walk cycle),
   both at the default `game` quality, each subject alone in the meadow, a three-quarter view.
2. docs/images/default_frames.jpg: frame 12 of each clip of a default split (`hmworld render num_clips=4 seed=0`:
   832x480, 77 + 77 frames, default style and quality), shown at half size in a 2x2 grid.
3. docs/images/tracking_clips.png: the same four clips as rows, each at frames 0 and 40, three frames before the
   main subject's first exit, two after it, one after its re-entry, and 150 (quarter size).
Needs the asset cache (scripts/setup.sh or `hmworld assets`). Deterministic: same code, same images.
"""
from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw

from hmworld.catalog import load_catalog
from hmworld.clipspec import ClipSpec, SubjectTrack, VideoSpec
from hmworld.errors import HMWorldError
from hmworld.geometry import Intrinsics, look_at

ROOT = Path(__file__).resolve().parent.parent
# one subject per COCO class we render, person twice (two meshes); the catalog's first-listed look of each
COLUMNS = ["man_red_hoodie", "woman_green_dress", "dog_golden", "horse_bay", "sheep_white", "cow_holstein",
           "elephant_grey", "bear_brown", "zebra_plains", "giraffe_reticulated", "hen_brown"]
CELL = 128  # pixels, square
HFOV = 40.0  # degrees
PHASES = (0.0, 0.33, 0.67)  # walk cycles: three poses of the stride
LABEL_H = 14
FRAME = 12  # of each default clip


def subject_spec(catalog, name: str) -> ClipSpec:
    """One subject walking in place (its walk phase advances, so the asset model plays its walk cycle) seen
    from the front-left at a distance that fits its height and length."""
    s = catalog.subjects[name]
    size = max(s.height, s.length)
    dist = 0.75 * size / np.tan(np.radians(HFOV / 2))
    n = len(PHASES)
    track = SubjectTrack(1, name, "straight", 1.0, np.zeros((n, 3)), np.full(n, -0.6), np.asarray(PHASES))
    target = np.array([0.0, 0.0, 0.5 * s.height])
    cam = look_at(np.array([[0.0, -dist, 0.45 * s.height + 0.1 * size]] * n), target)
    return ClipSpec("sheet", 0, 0, 0, "train", "meadow", VideoSpec(CELL, CELL, 15, 1, n - 1),
                    Intrinsics.from_hfov(CELL, CELL, HFOV), "pan_away_back", "left", cam, [track])


def contact_sheet(out: Path, asset_cache: str | None) -> None:
    from hmworld.render.embedded import EmbeddedRenderer

    catalog = load_catalog()
    rows = 1 + len(PHASES)
    sheet = Image.new("RGB", (CELL * len(COLUMNS), LABEL_H + CELL * rows), "white")
    draw = ImageDraw.Draw(sheet)
    with EmbeddedRenderer(catalog, subjects_style="primitive", quality="game") as prim, \
            EmbeddedRenderer(catalog, subjects_style="asset", asset_cache=asset_cache, quality="game") as real:
        for c, name in enumerate(COLUMNS):
            spec = subject_spec(catalog, name)
            draw.text((c * CELL + 3, 1), catalog.subjects[name].coco_name, fill="black")
            sheet.paste(Image.fromarray(next(iter(prim.render(spec))).rgb), (c * CELL, LABEL_H))
            for r, frame in enumerate(real.render(spec)):
                sheet.paste(Image.fromarray(frame.rgb), (c * CELL, LABEL_H + CELL * (r + 1)))
    # a 256-colour palette keeps the committed PNG small (~1/3 of true colour); the renders are smooth enough
    write(sheet.quantize(256, method=Image.Quantize.MEDIANCUT, dither=Image.Dither.NONE), out, optimize=True)


def default_frames(out: Path, tracking_out: Path | None, asset_cache: str | None) -> None:
    from hydra import compose, initialize_config_module

    from hmworld.render_job import run_render
    from hmworld.video import read_video

    with tempfile.TemporaryDirectory() as tmp:
        overrides = [f"out={tmp}/split", "num_clips=4", "seed=0", "progress=false"]
        if asset_cache:
            overrides.append(f"+renderer.runtime.asset_cache={asset_cache}")
        with initialize_config_module(config_module="hmworld.render_configs", version_base="1.3"):
            cfg = compose(config_name="render", overrides=overrides)
        run_render(cfg)
        videos = sorted(Path(tmp, "split", "clips").glob("*/video.mp4"))
        if len(videos) < 4:
            raise HMWorldError(f"the default split rendered {len(videos)} clips, the grid needs 4")
        picks, rows = [], []
        for video in videos[:4]:  # each video decoded once, for both pictures
            frames = read_video(video)
            # one early context frame per clip (the main subject in view, before the camera pans away)
            picks.append(frames[FRAME])
            if tracking_out:
                rows.append(tracking_row(video, frames))
    write(tile([picks[:2], picks[2:]], 2), out, quality=88)
    if rows:
        write(tile(rows, 4), tracking_out, optimize=True)


def tile(rows: list[list], shrink: int) -> Image.Image:
    """Frames laid out as rows x columns, each shrunk by `shrink`."""
    h, w = rows[0][0].shape[0] // shrink, rows[0][0].shape[1] // shrink
    image = Image.new("RGB", (len(rows[0]) * w, len(rows) * h))
    for r, frames in enumerate(rows):
        for c, frame in enumerate(frames):
            image.paste(Image.fromarray(frame).resize((w, h), Image.LANCZOS), (c * w, r * h))
    return image


def tracking_row(video: Path, frames) -> list:
    """A clip's frames around its main subject's first exit-entry event (events.json, through the schema)."""
    from hmworld.split.schema import EventsFile, load

    ev = load(EventsFile, video.parent / "events.json", video.parent.name)
    main = [e for iid, e in ev.events() if iid == 1]
    if not main:
        raise HMWorldError(f"clip {video.parent.name}: its main subject has no exit-entry event")
    e, last = main[0], len(frames) - 1
    wanted = [0, 40, e.exit_frame - 3, e.exit_frame + 2, e.entry_frame + 1, min(150, last)]
    return [frames[min(max(i, 0), last)] for i in wanted]


def write(image: Image.Image, out: Path, **kwargs) -> None:
    """Atomic: a partly written picture never replaces the committed one."""
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_name(out.name + ".part")
    image.save(tmp, format="PNG" if out.suffix == ".png" else "JPEG", **kwargs)
    tmp.replace(out)
    print(f"{out}: {image.width}x{image.height}, {out.stat().st_size / 1e3:.0f} KB")


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--out", default=str(ROOT / "docs" / "images"), help="folder for the images")
    ap.add_argument("--only", choices=["sheet", "frames"], default=None,
                    help="one image: sheet (1), or frames (2 and 3, from one render)")
    ap.add_argument("--asset-cache", default=None, help="default: $HMWORLD_ASSET_CACHE or ~/.cache/hmworld/assets")
    args = ap.parse_args(argv)
    try:
        if args.only in (None, "sheet"):
            contact_sheet(Path(args.out) / "assets_contact_sheet.png", args.asset_cache)
        if args.only in (None, "frames"):
            default_frames(Path(args.out) / "default_frames.jpg", Path(args.out) / "tracking_clips.png",
                           args.asset_cache)
    except HMWorldError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
