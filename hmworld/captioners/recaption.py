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
from typing import Sequence

import numpy as np

from hmworld.captioners.base import CaptionRequest, Captioner
from hmworld.captioners.facts import ClipGeometry, SubjectInfo, build_request, spec_geometry
from hmworld.catalog import Catalog, load_catalog
from hmworld.clipspec import ClipSpec
from hmworld.errors import ConfigError, SplitError
from hmworld.fsutil import atomic_write_json, read_json
from hmworld.progress import SILENT, Progress
from hmworld.split.format import CLIP_JSON, ClipRecord
from hmworld.split import schema
from hmworld.split.reader import read_split_info
from hmworld.split.schema import CameraFile, EventsFile, SubjectEntry, SubjectsFile
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
    """The same request the render job builds for this clip, from the files in the clip folder: geometry from
    clipspec.json (exactly the render job's), visibility from events.json, phrases from the catalog.

    Clips without clipspec.json (imported ones) fall back piece by piece: the camera from camera.json, the
    subjects' positions from subjects.json when it has them, visibility from events.json (unknown intervals
    keep the subject); descriptions the catalog lacks come from subjects.json, then from readable names."""
    cat = catalog or Catalog()
    spec_doc = read_json(clip_dir / "clipspec.json") if (clip_dir / "clipspec.json").exists() else None
    subjects_doc = _load_optional(SubjectsFile, clip_dir / "subjects.json", record.clip_id)
    events_doc = _load_optional(EventsFile, clip_dir / "events.json", record.clip_id)
    subjects = subjects_doc.subjects if subjects_doc else []
    by_id = {s.instance_id: s for s in subjects}

    scene_entry = cat.scenes.get(record.scene)
    scene = scene_entry.description if scene_entry else f"a {_humanize(record.scene)} scene"

    if spec_doc:
        spec = ClipSpec.from_dict(spec_doc)
        geometry = spec_geometry(spec)
        tracks = [(t.instance_id, t.name) for t in spec.subjects]
    else:
        geometry = _files_geometry(clip_dir, record, subjects)
        tracks = ([(s.instance_id, s.name or "") for s in subjects]
                  if subjects else [(i + 1, n) for i, n in enumerate(record.subjects)])
    infos = []
    for iid, name in tracks:
        info = by_id.get(iid)
        entry = cat.subjects.get(name)
        description = (entry.description if entry else None) or (info and info.description) or f"a {_humanize(name)}"
        infos.append(SubjectInfo(iid, description, entry.gait if entry else "moves",
                                 (entry.kind if entry else None) or (info and info.kind) or ""))
    return build_request(record.clip_id, scene, infos, geometry, events_doc.subjects if events_doc else None,
                         clip_dir / Path(record.video_path).name)


def _files_geometry(clip_dir: Path, record: ClipRecord, subjects: list[SubjectEntry]) -> ClipGeometry:
    """What camera.json and subjects.json say about the poses (parts they lack stay unknown)."""
    n = record.context_frames + record.target_frames
    geometry = ClipGeometry(n, record.context_frames, float(record.fps))
    camera = _load_optional(CameraFile, clip_dir / "camera.json", record.clip_id)
    if camera is not None and camera.frames == n:
        geometry.camera_c2w = camera.poses
        fx = camera.intrinsics.get("fx")
        if fx:
            geometry.hfov_deg = float(np.degrees(2 * np.arctan(0.5 * camera.width / fx)))
    for s in subjects:
        frames = s.frames or []
        pos = [f.position for f in frames]
        if len(pos) == n and all(p is not None for p in pos):
            geometry.positions[s.instance_id] = np.asarray(pos, float)
            head = [f.heading for f in frames]
            if all(h is not None for h in head):
                geometry.headings[s.instance_id] = np.asarray(head, float)
    return geometry


def _load_optional(cls, path: Path, clip_id: str):
    """The checked record, or None when the clip has no such file."""
    return schema.load(cls, path, clip_id) if path.exists() else None


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
                    limit: int | None = None, progress: Progress = SILENT,
                    keep_examples: int = 3, catalog: Catalog | None = None) -> CaptionReport:
    """Caption every clip of `split` whose caption_source is not `captioner.name` (every clip with `force`).

    `progress` (hmworld.progress) counts the clips captioned. `catalog`
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
    with progress.start("captioning clips", len(todo)) as captioned:
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
            captioned.advance(len(batch))
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
