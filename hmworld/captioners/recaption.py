"""`hmworld caption`: re-caption an existing split in place, resumably.

The per-clip source of truth is `clips/<id>/clip.json`. Clips are captioned in batches; after each batch every
clip's clip.json is replaced atomically (caption and caption_source), and then manifest.parquet and
captions.txt are rebuilt from all clip.json files under the split's lock, each replaced whole. So:

* a killed run loses at most the batch in flight; a rerun skips every clip whose caption_source already is
  this captioner's name (the check reads clip.json, never the manifest);
* manifest.parquet and captions.txt are only ever replaced whole, from one reading of the clip.json files, and
  every run (even one with nothing to do) first rebuilds them, so a split left by a killed run is consistent
  again after any rerun;
* the split's fingerprint excludes captions, so re-captioning never invalidates submissions; split.json is not
  touched.
"""
from __future__ import annotations

import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Sequence

from hmworld.captioners.base import CaptionRequest, Captioner, SubjectMotion
from hmworld.catalog import Catalog, load_catalog
from hmworld.errors import ConfigError, SplitError
from hmworld.fsutil import atomic_write_json, read_json
from hmworld.split.format import CLIP_JSON, ClipRecord
from hmworld.split.reader import read_split_info
from hmworld.split.writer import clip_records as split_records
from hmworld.split.writer import rebuild_manifest


@dataclass
class CaptionReport:
    split: Path
    captioner: str
    total: int = 0  # clips in the split
    captioned: int = 0  # captioned by this run
    skipped: int = 0  # already captioned by this captioner
    load_seconds: float = 0.0  # loading the captioner's model (not counted per clip)
    seconds: float = 0.0  # spent in the captioner
    wall_seconds: float = 0.0
    examples: list[tuple[str, str]] = field(default_factory=list)  # (clip_id, caption), the first few

    @property
    def seconds_per_clip(self) -> float:
        return self.seconds / self.captioned if self.captioned else 0.0


def _humanize(name: str) -> str:
    return name.replace("_", " ").replace("-", " ").strip()


def clip_request(clip_dir: Path, record: ClipRecord, catalog: Catalog | None) -> CaptionRequest:
    """The same request the render job builds for this clip (catalog phrases for the scene, each subject's look,
    gait and path, and the camera move), from the files in the clip folder. Entries the catalog lacks (another
    catalog, an imported clip) fall back to the clip's own subjects.json descriptions and readable names."""
    cat = catalog or Catalog()
    spec = _read_optional(clip_dir / "clipspec.json")
    subjects_doc = _read_optional(clip_dir / "subjects.json")
    by_id = {s.get("instance_id"): s for s in subjects_doc.get("subjects", [])}

    scene_entry = cat.scenes.get(record.scene)
    scene = scene_entry.description if scene_entry else f"a {_humanize(record.scene)} scene"

    tracks = spec.get("subjects") or [{"instance_id": i + 1, "name": n, "trajectory": t}
                                       for i, (n, t) in enumerate(zip(record.subjects, record.trajectories))]
    subjects = []
    for track in tracks:
        name, trajectory = track.get("name", ""), track.get("trajectory", "")
        info = by_id.get(track.get("instance_id"), {})
        entry = cat.subjects.get(name)
        description = (entry.description if entry else None) or info.get("description") or f"a {_humanize(name)}"
        gait = entry.gait if entry else "moves"
        path_entry = cat.subject_trajectories.get(trajectory or info.get("trajectory", ""))
        path = path_entry.description if path_entry else f"along a {_humanize(trajectory or 'winding')} path"
        subjects.append(SubjectMotion(description, gait, path))

    camera_name = spec.get("camera_trajectory") or record.camera_trajectory
    cam_entry = cat.camera_trajectories.get(camera_name)
    direction = spec.get("camera_direction") or "left"
    if cam_entry:
        try:
            camera = cam_entry.description.format(dir=direction)
        except (KeyError, IndexError):
            camera = cam_entry.description
    else:
        camera = f"moves ({_humanize(camera_name)})" if camera_name else "moves"
    return CaptionRequest(record.clip_id, scene, tuple(subjects), camera, clip_dir / Path(record.video_path).name,
                          extra={"frames": record.context_frames + record.target_frames})


def _read_optional(path: Path) -> dict:
    try:
        return read_json(path)
    except FileNotFoundError:
        return {}


def open_split(split: str | Path) -> tuple[Path, dict]:
    root = Path(str(split)).expanduser()
    return root, read_split_info(root)


def split_catalog(info: dict) -> Catalog | None:
    """The catalog the split was rendered from (its extra catalog_dirs included); None when it cannot be
    loaded here, in which case requests fall back to the clips' own descriptions."""
    dirs = (info.get("config") or {}).get("catalog_dirs") or []
    try:
        return load_catalog(list(dirs))
    except (ConfigError, OSError):
        return None


def recaption_split(split: str | Path, captioner: Captioner, batch_size: int | None = None, force: bool = False,
                    limit: int | None = None, progress: Callable[[int], object] | None = None,
                    keep_examples: int = 3, catalog: Catalog | None = None) -> CaptionReport:
    """Caption every clip of `split` whose caption_source is not `captioner.name` (every clip with `force`).

    `progress(total)` may return an object with `.advance(n)` and `.close()` (the CLI's rich bar). `catalog`
    defaults to the one the split was rendered from (loading it parses every catalog YAML: pass one to reuse).
    """
    wall = time.perf_counter()
    root, info = open_split(split)
    entries = split_records(root)
    report = CaptionReport(root, captioner.name, total=len(entries))
    rebuild_manifest(root)  # repairs what a run killed between the two file replacements left behind
    todo = [(d, r) for d, r in entries if force or r.caption_source != captioner.name]
    report.skipped = len(entries) - len(todo)
    if limit is not None:
        if int(limit) < 0:
            raise ConfigError(f"limit={limit} must be >= 0 (or null for every clip)")
        todo = todo[:int(limit)]
    size = int(batch_size or getattr(captioner, "batch_size", 0) or 8)
    if size < 1:
        raise ConfigError(f"batch_size={batch_size} must be >= 1")
    if not todo:
        report.wall_seconds = time.perf_counter() - wall
        return report
    catalog = catalog if catalog is not None else split_catalog(info)
    if callable(getattr(captioner, "ensure_loaded", None)):  # load before the clock for seconds-per-clip starts
        t0 = time.perf_counter()
        captioner.ensure_loaded()
        report.load_seconds = time.perf_counter() - t0
    bar = progress(len(todo)) if progress else None
    try:
        for start in range(0, len(todo), size):
            batch = todo[start:start + size]
            requests = [clip_request(d, r, catalog) for d, r in batch]
            t0 = time.perf_counter()
            captions = captioner.caption(requests)
            report.seconds += time.perf_counter() - t0
            if len(captions) != len(batch):
                raise SplitError(f"captioner {captioner.name} returned {len(captions)} captions for {len(batch)} clips")
            _commit_batch(batch, captions, captioner.name)
            rebuild_manifest(root)
            report.captioned += len(batch)
            for (_, r), text in zip(batch, captions):
                if len(report.examples) < keep_examples:
                    report.examples.append((r.clip_id, text))
            if bar is not None:
                bar.advance(len(batch))
    finally:
        if bar is not None:
            bar.close()
    report.wall_seconds = time.perf_counter() - wall
    return report


def _commit_batch(batch: Sequence[tuple[Path, ClipRecord]], captions: Sequence[str], source: str) -> None:
    """Replace each clip.json whole. The file is re-read first so fields another process wrote since we listed
    the split (nothing else edits finished clips today) are kept; only the caption fields change."""
    for (clip_dir, _), text in zip(batch, captions):
        path = clip_dir / CLIP_JSON
        doc = read_json(path)
        doc["caption"], doc["caption_source"] = str(text), source
        atomic_write_json(path, doc)
