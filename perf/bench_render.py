"""Speed of HM-World generation on this machine, measured side by side in one run.

    .venv/bin/python perf/bench_render.py            # full: 832x480 and 416x240, 77 + 77 frames, 3 clips
    .venv/bin/python perf/bench_render.py --quick    # fewer frames, for a smoke run
    .venv/bin/python perf/bench_render.py --styles primitive asset --qualities basic game --props primitive asset

Prints, per size and per (subjects_style, quality, props_style; the default, asset x game x asset, is
labelled): end-to-end frames per second of `hmworld render`
(render + encode + masks + annotations + write) and its parts measured apart on one clip (render only,
encode only, the annotations' full boxes), with their shares of a frame's time. The load average is printed
before and after: on a shared machine the numbers move with it. `asset` needs the asset cache (`hmworld
assets`; $HMWORLD_ASSET_CACHE or --asset-cache). Aims (issue 12): >= 15 fps at 832x480, >= 50 fps at 416x240.
The pre-filter has its own benchmark, beside the first wave's implementation: perf/bench_prefilter.py.
"""
from __future__ import annotations

import argparse
import itertools
import os
import tempfile
import time

from hydra import compose, initialize_config_module

from hmworld.annotations import subject_boxes
from hmworld.assets.scenery import scenery_catalog
from hmworld.body import body_model
from hmworld.catalog import load_catalog
from hmworld.compositor import CompositionContext, Rejection, compose as compose_clip
from hmworld.configs.render import EmbeddedRendererConfig
from hmworld.render.embedded import EmbeddedRenderer
from hmworld.render_job import run_render
from hmworld.video import VideoWriter

AIMS = {(832, 480): 15, (416, 240): 50}


def config(*overrides):
    with initialize_config_module(config_module="hmworld.render_configs", version_base="1.3"):
        return compose(config_name="render", overrides=list(overrides))


# the renderer config's defaults (subjects, quality, props), read from its schema so the label follows them
_DEFAULTS = EmbeddedRendererConfig()
DEFAULT = (_DEFAULTS.subjects_style, _DEFAULTS.quality, _DEFAULTS.props_style)


def style_overrides(style: str, quality: str, cache: str | None, props: str = "primitive") -> list[str]:
    out = [f"renderer.subjects_style={style}", f"renderer.quality={quality}", f"renderer.props_style={props}"]
    if cache and "asset" in (style, props):
        out.append(f"+renderer.runtime.asset_cache={cache}")
    return out


def end_to_end(width: int, height: int, frames: int, clips: int, extra: list[str]) -> dict:
    with tempfile.TemporaryDirectory() as tmp:
        cfg = config(f"out={tmp}/split", f"num_clips={clips}", "seed=1", f"video.width={width}",
                     f"video.height={height}", f"video.context_frames={frames}", f"video.target_frames={frames}",
                     "progress=false", *extra)
        report = run_render(cfg)
    return {"fps": report.fps, "frames": report.frames, "wall": report.wall_seconds}


def parts(catalog, width: int, height: int, frames: int, style: str, quality: str, cache: str | None,
          props: str = "primitive") -> dict:
    cfg = config("out=x", "seed=1", f"video.width={width}", f"video.height={height}",
                 f"video.context_frames={frames}", f"video.target_frames={frames}")
    catalog = scenery_catalog(catalog, props, cache)  # the props the compositor places clear of, as drawn
    ctx = CompositionContext.from_config(catalog, cfg)
    bodies = body_model(catalog, style, cache)
    ctx.footprint = bodies.footprint_half_axes
    spec = next(s for s in (compose_clip(ctx, i, 0) for i in range(20)) if not isinstance(s, Rejection))
    with EmbeddedRenderer(catalog, subjects_style=style, asset_cache=cache, quality=quality,
                          props_style=props) as renderer:
        list(renderer.render(spec))  # warm-up: shader compile, texture upload
        t = time.perf_counter()
        rendered = [f.rgb for f in renderer.render(spec)]
        render_s = time.perf_counter() - t
    with tempfile.TemporaryDirectory() as tmp:
        t = time.perf_counter()
        with VideoWriter(os.path.join(tmp, "v.mp4"), width, height, 15) as w:
            for f in rendered:
                w.write(f)
        encode_s = time.perf_counter() - t
    t = time.perf_counter()
    subject_boxes(spec, catalog, bodies)
    boxes_s = time.perf_counter() - t
    n = len(rendered)
    return {"render_ms": 1e3 * render_s / n, "encode_ms": 1e3 * encode_s / n, "boxes_ms": 1e3 * boxes_s / n,
            "subjects": len(spec.subjects)}


def load() -> str:
    return " ".join(f"{x:.2f}" for x in os.getloadavg())


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--quick", action="store_true", help="21 + 21 frames, fewer clips")
    ap.add_argument("--styles", nargs="+", default=["primitive", "asset"], choices=["primitive", "asset"])
    ap.add_argument("--qualities", nargs="+", default=["basic", "game"], choices=["basic", "game"])
    ap.add_argument("--props", nargs="+", default=["primitive", "asset"], choices=["primitive", "asset"],
                    help="renderer.props_style: primitive props, or 0 A.D. terrain and mesh props (the asset scene)")
    ap.add_argument("--asset-cache", default=None,
                    help="asset cache folder (default: $HMWORLD_ASSET_CACHE or ~/.cache/hmworld/assets)")
    args = ap.parse_args()
    frames, clips = (21, 2) if args.quick else (77, 3)
    catalog = load_catalog()
    print(f"cores: {os.cpu_count()}   frames per clip: {2 * frames}   clips per size: {clips}   "
          f"load average (1/5/15 min) before: {load()}")
    for (w, h), aim in AIMS.items():
        for style, quality, props in itertools.product(args.styles, args.qualities, args.props):
            e2e = end_to_end(w, h, frames, clips, style_overrides(style, quality, args.asset_cache, props))
            p = parts(catalog, w, h, frames, style, quality, args.asset_cache, props)
            total = p["render_ms"] + p["encode_ms"] + p["boxes_ms"]
            share = " / ".join(f"{100 * p[k] / total:.0f}%" for k in ("render_ms", "encode_ms", "boxes_ms"))
            label = " (default)" if (style, quality, props) == DEFAULT else ""
            print(f"{w}x{h} {style:9s} {quality:5s} props {props:9s}{label}: end-to-end {e2e['fps']:5.1f} fps "
                  f"(aim {aim}: "
                  f"{e2e['fps'] / aim:.2f}x) | one clip, {p['subjects']} subjects, per frame: render "
                  f"{p['render_ms']:.1f} ms, encode {p['encode_ms']:.1f} ms, full boxes {p['boxes_ms']:.2f} ms "
                  f"(shares {share}) | {e2e['frames']} frames, wall {e2e['wall']:.1f} s | load {load()}",
                  flush=True)


if __name__ == "__main__":
    main()
