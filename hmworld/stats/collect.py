"""Reading a split for the dataset card: every per-clip file checked field by field through its schema
(hmworld.split.schema: file contents are treated as hostile: wrong types, NaN, out-of-range frames and paths
leaving the split are named, never trusted), then the per-clip, per-event and per-subject values of every figure.

Only the keys the split format documents are read; unknown keys (e.g. ones a compositor adds) are ignored.
Clips imported from the official release have no masks and no boxes (`visible_intervals` null, box fields null,
possibly no subjects.json): the figures that need them come out as n/a.
"""
from __future__ import annotations

import json
import math
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from typing import Any

import numpy as np

from hmworld.errors import HMWorldError
from hmworld.progress import SILENT, Progress
from hmworld.split import schema
from hmworld.split.format import CLIP_FILES, CLIPS_DIR, MANIFEST
from hmworld.split.schema import CameraFile, EventsFile, SchemaError, SubjectsFile, short
from hmworld.split.reader import read_split_info
from hmworld.stats import figures as F


class StatsError(HMWorldError):
    """Bad input to `hmworld stats`: the message names the file or setting and the fault."""


def _is_num(v: Any) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v)


def clip_file(root: Path, row: dict, key: str) -> Path:
    """A clip file named by a manifest path column, which must stay inside the split."""
    clip_id = row["clip_id"]
    rel = row.get(key) or f"{CLIPS_DIR}/{clip_id}/{CLIP_FILES[key]}"
    p = PurePosixPath(rel) if isinstance(rel, str) else None
    if p is None or p.is_absolute() or ".." in p.parts or "\\" in rel:
        raise StatsError(f"clip {clip_id}: manifest field {key} = {short(rel)} is not a path inside the split")
    return root / p


# -------------------------------------------------------------------------------------------- parsing
@dataclass
class SubjectData:
    instance_id: int
    name: str
    description: str | None = None
    positions: np.ndarray | None = None        # [F, 3], NaN where the file gives none; None when it gives none at all
    visible_box: list | None = None            # per frame: [x0, y0, x1, y1] or None
    visible_pixels: list | None = None         # per frame: int or None
    visible_intervals: list | None = None      # [[s, e], ...] or None (no masks)
    events: list = field(default_factory=list)  # [(exit_frame, entry_frame)]


@dataclass
class ClipData:
    clip_id: str
    row: dict
    c2w: np.ndarray  # [F, 4, 4]
    width: float
    height: float
    context_frames: int
    target_frames: int
    subjects: list[SubjectData]
    has_subjects_file: bool

    @property
    def frames(self) -> int:
        return len(self.c2w)


def _checked(cls, clip_id: str, path: Path, **kw):
    """A per-clip file through its schema; a fault is this command's error (same message)."""
    try:
        return schema.load(cls, path, clip_id, **kw)
    except SchemaError as exc:
        raise StatsError(str(exc)) from None


def read_clip(root: Path, row: dict) -> ClipData:
    clip_id = row["clip_id"]
    camera = _checked(CameraFile, clip_id, clip_file(root, row, "camera_path"))
    frames = camera.frames
    events = _checked(EventsFile, clip_id, clip_file(root, row, "events_path"), frames=frames)
    c, t = events.context_frames, events.target_frames
    for key in ("context_frames", "target_frames"):
        v = row.get(key)
        if v is not None and _is_num(v) and int(v) != {"context_frames": c, "target_frames": t}[key]:
            raise StatsError(f"clip {clip_id}: events.json says {key} = {c if key == 'context_frames' else t}, "
                             f"the manifest says {int(v)}")
    subjects_path = clip_file(root, row, "subjects_path")
    files = _checked(SubjectsFile, clip_id, subjects_path, frames=frames) if subjects_path.exists() else None
    names = _names(row.get("subjects"))
    by_id = files.by_id() if files else {}
    ev_by_id = events.by_id()
    ids = sorted(set(ev_by_id) | set(by_id) | set(range(1, len(names) + 1)))
    subjects = []
    for k in ids:
        s, ev = by_id.get(k), ev_by_id.get(k)
        name = (s.name if s else None) or (str(names[k - 1]) if k <= len(names) else f"instance {k}")
        fr = s.frames if s else None
        subjects.append(SubjectData(
            k, name, s.description if s else None, s.positions() if s else None,
            [f.visible_box for f in fr] if fr is not None else None,
            [f.visible_pixels for f in fr] if fr is not None else None,
            ev.visible_intervals if ev else None,
            [(e.exit_frame, e.entry_frame) for e in ev.events] if ev else []))
    return ClipData(clip_id, row, camera.poses, float(camera.width), float(camera.height), c, t, subjects,
                    files is not None)


# ------------------------------------------------------------------------------------------- figures
def clip_values(clip: ClipData) -> tuple[dict, list[dict], list[dict]]:
    """(clip record, event records, subject records) with every figure's value (None = n/a)."""
    c2w, C, H = clip.c2w, clip.context_frames, clip.height
    rec: dict[str, Any] = {"clip_id": clip.clip_id}
    rec.update(F.camera_figures(c2w, C))
    main = next((s for s in clip.subjects if s.instance_id == F.MAIN_INSTANCE), None)
    rec["camera_tracks_subject"] = F.tracks_subject(c2w, main.positions if main else None, C)
    rec["main_subject_distance_frame0_m"] = F.horizontal_distance(c2w, main.positions, 0) if main else None
    rec["main_subject_box_height_frame0"] = _box_height(main, 0, H) if main else None
    rec["subjects_per_clip"] = len(clip.subjects)

    subjects, never = [], []
    for s in clip.subjects:
        seen = F.visible_frames(s.visible_intervals, clip.frames)
        subjects.append({
            "clip_id": clip.clip_id, "instance_id": s.instance_id, "name": s.name,
            "subject_distance_frame0_m": F.horizontal_distance(c2w, s.positions, 0),
            "visible_fraction": None if seen is None else seen / clip.frames,
            "subjects_never_visible": None if seen is None else seen == 0,
        })
        never.append((s, None if seen is None else seen == 0))
    # captions_naming_invisible: known when every subject's visibility is known; a never-visible subject
    # without a description cannot be recognised in the caption, so the answer is unknown then.
    if any(n is None for _, n in never):
        names_invisible = None
    else:
        hidden = [s for s, n in never if n]
        if any(s.description is None for s in hidden):
            names_invisible = None
        else:
            caption = clip.row.get("caption")
            caption = caption if isinstance(caption, str) else ""
            names_invisible = any(F.caption_names(caption, s.description) for s in hidden)
    rec["captions_naming_invisible"] = names_invisible

    events = []
    for s in clip.subjects:
        for ex, en in s.events:
            events.append({
                "clip_id": clip.clip_id, "instance_id": s.instance_id, "name": s.name,
                "exit_frame": ex, "entry_frame": en, "hidden_gap_frames": en - ex,
                "reentry_within_10_target_frames": en < C + F.EARLY_REENTRY_FRAMES,
                "reentry_subject_distance_m": F.horizontal_distance(c2w, s.positions, en),
                "reentry_box_height": _box_height(s, en, H),
            })
    rec["clips_with_event"] = bool(events)
    return rec, events, subjects


def _box_height(s: SubjectData, frame: int, image_height: float) -> float | None:
    if s.visible_pixels is None:
        return None
    return F.box_height(s.visible_box[frame], s.visible_pixels[frame], image_height)


# --------------------------------------------------------------------------------------------- split
@dataclass
class SplitRows:
    root: Path
    info: dict
    rows: list[dict]
    warnings: list[str]


def split_rows(root: str | Path) -> SplitRows:
    """The clips to describe: the manifest of a complete split; for an in-progress split (a render still
    running or killed) the clip.json of every finished clip, with a warning."""
    from hmworld.errors import SplitError
    from hmworld.split.writer import clip_records

    root = Path(root)
    if not root.is_dir():
        raise StatsError(f"split={root}: not a folder")
    try:
        info = read_split_info(root)
    except SplitError as exc:
        raise StatsError(str(exc)) from None
    except (json.JSONDecodeError, UnicodeDecodeError, OSError) as exc:
        raise StatsError(f"split={root}: split.json cannot be read ({exc})") from None
    if not isinstance(info, dict):
        raise StatsError(f"split={root}: split.json is not an object")
    warnings = []
    manifest = root / MANIFEST
    if info.get("status") == "complete" and manifest.is_file():
        from hmworld.split.reader import read_manifest

        try:
            frame = read_manifest(manifest)
        except Exception as exc:  # pyarrow raises several types for a damaged file
            raise StatsError(f"split={root}: {MANIFEST} cannot be read ({type(exc).__name__}: {exc})") from None
        if "clip_id" not in frame.columns:
            raise StatsError(f"split={root}: {MANIFEST} has no clip_id column")
        rows = [_plain(r) for r in frame.to_dict("records")]
    else:
        try:
            rows = [r.row() | {"extra": r.extra} for _, r in clip_records(root)]
        except (json.JSONDecodeError, UnicodeDecodeError, OSError, TypeError, AttributeError) as exc:
            raise StatsError(f"split={root}: a clips/<id>/clip.json cannot be read ({exc})") from None
        state = (f"is {info.get('status')}" if info.get("status") != "complete"
                 else f"has no {MANIFEST}")
        warnings.append(f"split={root} {state} ({len(rows)} of {info.get('num_clips', '?')} clips written): "
                        "the card describes the finished clip folders")
    for i, r in enumerate(rows):
        if not isinstance(r.get("clip_id"), str) or not r["clip_id"]:
            raise StatsError(f"split={root}: manifest row {i} has no clip_id")
    return SplitRows(root, info, rows, warnings)


def _plain(row: dict) -> dict:
    """pandas/pyarrow values -> plain Python (lists instead of arrays)."""
    out = {}
    for k, v in row.items():
        if isinstance(v, np.ndarray):
            v = v.tolist()
        elif isinstance(v, np.generic):
            v = v.item()
        out[k] = v
    return out


@dataclass
class CardData:
    """Everything the card shows: per-item values of every figure, and the count tables."""

    split: SplitRows
    clips: list[dict]
    events: list[dict]
    subjects: list[dict]
    counts: dict[str, dict[str, int]]
    context_frames: int | None

    def values(self, name: str) -> list:
        per = F.FIGURES[name].per
        items = {"clip": self.clips, "event": self.events, "subject": self.subjects}[per]
        return [it.get(name) for it in items]


def collect(root: str | Path, progress: Progress = SILENT) -> CardData:
    """Read every clip of the split and compute its figures; `progress` counts the clips read."""
    rows = split_rows(root)
    read = progress.start("reading clips", len(rows.rows))
    clips, events, subjects = [], [], []
    counts = {k: Counter() for k in ("scene", "subject", "subject_trajectory", "camera_trajectory")}
    cs = []
    for row in rows.rows:
        clip = read_clip(rows.root, row)
        rec, evs, subs = clip_values(clip)
        clips.append(rec)
        events += evs
        subjects += subs
        cs.append(clip.context_frames)
        counts["scene"][_label(row.get("scene"))] += 1
        counts["camera_trajectory"][_label(row.get("camera_trajectory"))] += 1
        for s in clip.subjects:
            counts["subject"][_label(s.name)] += 1
        for traj in _names(row.get("trajectories")):
            counts["subject_trajectory"][_label(traj)] += 1
        read.advance()
    read.close()
    ordered = {k: dict(sorted(c.items(), key=lambda kv: (-kv[1], kv[0]))) for k, c in counts.items()}
    ctx = int(np.median(cs)) if cs else None
    return CardData(rows, clips, events, subjects, ordered, ctx)


def _names(v: Any) -> list[str]:
    """A manifest list column (subject names, trajectories); anything else counts as empty."""
    return [str(x) for x in v] if isinstance(v, (list, tuple)) else []


def _label(v: Any) -> str:
    return v if isinstance(v, str) and v else "unknown" if v is None or v == "" else str(v)
