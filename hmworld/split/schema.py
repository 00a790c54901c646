"""The per-clip annotation files as typed records: camera.json, subjects.json, events.json (README "Split format").

Every writer (the render job's annotator, the official-release importer) builds these records and writes
`to_json()`; every reader (the split reader, the metrics, the dataset card, thumbnails, captioner facts, the
study, the retrieval view) gets them from `from_json()` or `coerce()`. A new per-clip field is one field here.

`from_json` treats the file as hostile: a wrong type, NaN, an out-of-range frame or a newer version raises
`SchemaError` naming the file and the field. Keys this toolkit does not know are ignored (a later writer may
add some). `to_json` gives back the same keys in the same order with the values as stored, so a valid file
read and written again is the same bytes; rounding is the writer's choice and happens before a record is made.
"""
from __future__ import annotations

import json
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Mapping, Sequence, TypeVar

import numpy as np

from hmworld.errors import SplitError
from hmworld.fsutil import read_json

CAMERA_CONVENTION = "opencv_c2w_metres"
SUBJECTS_VERSION = 1
EVENTS_VERSION = 2  # 2 added "rules"; version 1 files (older splits) read the same


class SchemaError(SplitError):
    """A per-clip file that does not follow its schema; the message names the file and the field."""


# ------------------------------------------------------------------------------------------- checking
def _is_int(v: Any) -> bool:
    return isinstance(v, int) and not isinstance(v, bool)


def _is_num(v: Any) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v)


def short(v: Any, n: int = 60) -> str:
    """repr of a value cut to n characters, for error messages about hostile input."""
    text = repr(v)
    return text if len(text) <= n else text[: n - 3] + "..."


class Where:
    """Checks one file's fields; every failure names `source` (the file, and the clip where known) and the field."""

    def __init__(self, source: str):
        self.source = source

    def fail(self, what: str) -> SchemaError:
        return SchemaError(f"{self.source}: {what}")

    def int(self, v: Any, name: str, lo: int | None = None, hi: int | None = None) -> int:
        if not _is_int(v) or (lo is not None and v < lo) or (hi is not None and v > hi):
            rng = "" if lo is None else f" in [{lo}, {hi}]" if hi is not None else f" >= {lo}"
            raise self.fail(f"field {name} must be an integer{rng}, got {short(v)}")
        return v

    def num(self, v: Any, name: str) -> float:
        if not _is_num(v):
            raise self.fail(f"field {name} must be a finite number, got {short(v)}")
        return v

    def nums(self, v: Any, name: str, n: int) -> list:
        if not isinstance(v, list) or len(v) != n or not all(_is_num(x) for x in v):
            raise self.fail(f"field {name} must be {n} finite numbers, got {short(v)}")
        return v

    def list(self, v: Any, name: str) -> list:
        if not isinstance(v, list):
            raise self.fail(f"field {name} must be a list, got {short(v)}")
        return v

    def obj(self, v: Any, name: str) -> Mapping:
        if not isinstance(v, Mapping):
            raise self.fail(f"{name} must be an object, got {short(v)}")
        return v

    def text(self, v: Any, name: str) -> str | None:
        if v is not None and not isinstance(v, str):
            raise self.fail(f"field {name} must be text, got {short(v)}")
        return v

    def opt_num(self, v: Any, name: str) -> float | None:
        return None if v is None else self.num(v, name)

    def opt_int(self, v: Any, name: str, lo: int | None = None) -> int | None:
        return None if v is None else self.int(v, name, lo)

    def opt_nums(self, v: Any, name: str, n: int) -> list | None:
        return None if v is None else self.nums(v, name, n)

    def version(self, d: Mapping, known: int) -> int:
        v = self.int(d.get("version"), "version", 1)
        if v > known:
            raise self.fail(f"version {v} is newer than this toolkit reads ({known}); update hmworld")
        return v


def _source(source: str | None, default: str) -> Where:
    return Where(source or default)


# ------------------------------------------------------------------------------------------ camera.json
@dataclass
class CameraFile:
    """camera.json: OpenCV camera-to-world poses in metres (row-major 4x4 per frame) and pinhole intrinsics."""

    width: int | float
    height: int | float
    fps: float | None
    intrinsics: dict  # {"fx", "fy", "cx", "cy"}
    c2w: list  # [[16 numbers], ...] one per frame
    convention: str = CAMERA_CONVENTION

    @property
    def poses(self) -> np.ndarray:
        """[F, 4, 4] float64."""
        return np.asarray(self.c2w, float).reshape(-1, 4, 4)

    @property
    def frames(self) -> int:
        return len(self.c2w)

    def to_json(self) -> dict:
        return {"convention": self.convention, "width": self.width, "height": self.height, "fps": self.fps,
                "intrinsics": dict(self.intrinsics), "c2w": self.c2w}

    @classmethod
    def from_json(cls, d: Any, source: str | None = None) -> "CameraFile":
        w = _source(source, "camera.json")
        d = w.obj(d, "the file")
        conv = d.get("convention", CAMERA_CONVENTION)
        if conv != CAMERA_CONVENTION:
            raise w.fail(f"field convention must be {CAMERA_CONVENTION!r}, got {short(conv)}")
        width, height = w.num(d.get("width"), "width"), w.num(d.get("height"), "height")
        if width <= 0 or height <= 0:
            raise w.fail(f"fields width/height must be positive, got {width} x {height}")
        rows = w.list(d.get("c2w"), "c2w")
        if len(rows) < 2:
            raise w.fail(f"field c2w must hold a pose per frame (at least 2), got {len(rows)}")
        for i, r in enumerate(rows):
            if not isinstance(r, list) or len(r) != 16 or not all(_is_num(x) for x in r):
                raise w.fail(f"field c2w[{i}] must be 16 finite numbers (row-major 4x4), got {short(r)}")
        intr = d.get("intrinsics")
        if intr is not None:
            intr = w.obj(intr, "intrinsics")
            for k in ("fx", "fy", "cx", "cy"):
                w.num(intr.get(k), f"intrinsics.{k}")
        return cls(width, height, w.opt_num(d.get("fps"), "fps"), dict(intr or {}), rows, conv)


# ---------------------------------------------------------------------------------------- subjects.json
@dataclass
class SubjectFrame:
    """One subject in one frame. Boxes are [x0, y0, x1, y1] pixels; None where unknown (imported clips) or empty."""

    position: list | None  # [x, y, z] ground point, metres
    heading: float | None  # radians
    box: list | None  # full projected box
    visible_box: list | None  # box of its mask pixels
    visible_pixels: int | None

    def to_json(self) -> dict:
        return {"position": self.position, "heading": self.heading, "box": self.box,
                "visible_box": self.visible_box, "visible_pixels": self.visible_pixels}

    @classmethod
    def from_json(cls, fr: Any, w: Where, where: str) -> "SubjectFrame":
        fr = w.obj(fr, where)
        return cls(w.opt_nums(fr.get("position"), f"{where}.position", 3),
                   w.opt_num(fr.get("heading"), f"{where}.heading"),
                   w.opt_nums(fr.get("box"), f"{where}.box", 4),
                   w.opt_nums(fr.get("visible_box"), f"{where}.visible_box", 4),
                   w.opt_int(fr.get("visible_pixels"), f"{where}.visible_pixels", 0))


# Written only when known: clips imported from the official release carry none of these.
_SUBJECT_OPTIONAL = ("kind", "coco_class", "coco_name", "description", "trajectory", "speed", "height")


@dataclass
class SubjectEntry:
    """One subject of a clip: who it is (catalog facts) and where it is in every frame."""

    instance_id: int  # its value in instances.npz (1, 2, ...)
    name: str | None
    kind: str | None = None  # "human" | "animal"
    coco_class: int | None = None  # COCO-80 id (0 person, 14 bird ... 23 giraffe)
    coco_name: str | None = None
    description: str | None = None
    trajectory: str | None = None
    speed: float | None = None  # m/s
    height: float | None = None  # metres
    frames: list[SubjectFrame] | None = None  # one per clip frame; None when the file gives none

    def to_json(self) -> dict:
        d: dict = {"instance_id": self.instance_id, "name": self.name}
        d.update((k, getattr(self, k)) for k in _SUBJECT_OPTIONAL if getattr(self, k) is not None)
        if self.frames is not None:
            d["frames"] = [f.to_json() for f in self.frames]
        return d

    @property
    def has_boxes(self) -> bool:
        """Whether any frame has a box, full or visible (imported clips have none)."""
        return any(f.visible_box or f.box for f in self.frames or [])

    def positions(self) -> np.ndarray | None:
        """[F, 3] ground positions, NaN where a frame gives none; None when no frame gives one."""
        if not self.frames:
            return None
        pos = np.array([f.position if f.position is not None else [np.nan] * 3 for f in self.frames], float)
        return None if np.isnan(pos).all() else pos

    @classmethod
    def from_json(cls, s: Any, w: Where, i: int, frames: int | None) -> "SubjectEntry":
        s = w.obj(s, f"subjects[{i}]")
        where = f"subjects[{i}]"
        name = s.get("name")
        frame_list = s.get("frames")
        if frame_list is not None:
            frame_list = w.list(frame_list, f"{where}.frames")
            if frames is not None and len(frame_list) != frames:
                raise w.fail(f"field {where}.frames has {len(frame_list)} entries, the clip has {frames} frames")
            frame_list = [SubjectFrame.from_json(fr, w, f"{where}.frames[{f}]") for f, fr in enumerate(frame_list)]
        return cls(w.int(s.get("instance_id"), f"{where}.instance_id", 1), name if isinstance(name, str) else None,
                   w.text(s.get("kind"), f"{where}.kind"), w.opt_int(s.get("coco_class"), f"{where}.coco_class", 0),
                   w.text(s.get("coco_name"), f"{where}.coco_name"),
                   w.text(s.get("description"), f"{where}.description"),
                   w.text(s.get("trajectory"), f"{where}.trajectory"), w.opt_num(s.get("speed"), f"{where}.speed"),
                   w.opt_num(s.get("height"), f"{where}.height"), frame_list)


@dataclass
class SubjectsFile:
    """subjects.json."""

    subjects: list[SubjectEntry]
    version: int = SUBJECTS_VERSION

    def to_json(self) -> dict:
        return {"version": self.version, "subjects": [s.to_json() for s in self.subjects]}

    def by_id(self) -> dict[int, SubjectEntry]:
        return {s.instance_id: s for s in self.subjects}

    @property
    def has_boxes(self) -> bool:
        """Whether any subject has a box (full or visible) in any frame (imported clips have none)."""
        return any(s.has_boxes for s in self.subjects)

    @classmethod
    def from_json(cls, d: Any, source: str | None = None, frames: int | None = None) -> "SubjectsFile":
        """`frames`: the clip's frame count (from camera.json) that every subject's `frames` must match."""
        w = _source(source, "subjects.json")
        d = w.obj(d, "the file")
        version = w.version(d, SUBJECTS_VERSION) if "version" in d else SUBJECTS_VERSION
        listed = w.list(d.get("subjects"), "subjects")
        subjects = [SubjectEntry.from_json(s, w, i, frames) for i, s in enumerate(listed)]
        _unique_ids(w, subjects)
        return cls(subjects, version)

    @classmethod
    def coerce(cls, d: "SubjectsFile | Mapping | None", source: str | None = None) -> "SubjectsFile | None":
        """A record from a record, a subjects.json dict (checked) or None (no file)."""
        return d if d is None or isinstance(d, cls) else cls.from_json(d, source)


# ------------------------------------------------------------------------------------------ events.json
@dataclass(frozen=True)
class ExitEntry:
    """Visible before `exit_frame`, hidden on [exit_frame, entry_frame), visible at `entry_frame`."""

    exit_frame: int
    entry_frame: int

    def to_json(self) -> dict:
        return {"exit_frame": self.exit_frame, "entry_frame": self.entry_frame}


@dataclass
class SubjectEvents:
    """One subject's visibility from the masks (None: no masks, imported clips) and its exit-entry events."""

    instance_id: int
    visible_intervals: list | None  # [[s, e), ...]
    events: list[ExitEntry] = field(default_factory=list)

    def to_json(self) -> dict:
        return {"instance_id": self.instance_id, "visible_intervals": self.visible_intervals,
                "events": [e.to_json() for e in self.events]}

    @classmethod
    def from_json(cls, s: Any, w: Where, i: int, frames: int) -> "SubjectEvents":
        s = w.obj(s, f"subjects[{i}]")
        k = w.int(s.get("instance_id"), f"subjects[{i}].instance_id", 1)
        intervals = s.get("visible_intervals")
        if intervals is not None:
            intervals = [w.nums(iv, f"subjects[{i}].visible_intervals[{j}]", 2)
                         for j, iv in enumerate(w.list(intervals, f"subjects[{i}].visible_intervals"))]
            for j, (a, b) in enumerate(intervals):
                if a != int(a) or b != int(b) or not 0 <= a <= b <= frames:
                    raise w.fail(f"field subjects[{i}].visible_intervals[{j}] must be frames [s, e) with "
                                 f"0 <= s <= e <= {frames}, got {[a, b]}")
        events = []
        for j, e in enumerate(w.list(s.get("events", []), f"subjects[{i}].events")):
            e = w.obj(e, f"subjects[{i}].events[{j}]")
            ex = w.int(e.get("exit_frame"), f"subjects[{i}].events[{j}].exit_frame", 0, frames - 1)
            en = w.int(e.get("entry_frame"), f"subjects[{i}].events[{j}].entry_frame", 0, frames - 1)
            if en <= ex:
                raise w.fail(f"field subjects[{i}].events[{j}]: entry_frame {en} is not after exit_frame {ex}")
            events.append(ExitEntry(ex, en))
        return cls(k, intervals, events)


@dataclass
class EventsFile:
    """events.json: the visibility rules the masks were judged by and every subject's events."""

    context_frames: int
    target_frames: int
    subjects: list[SubjectEvents]
    min_visible_pixels: int | None = None  # None: no masks (imported clips)
    rules: dict | None = None  # hmworld.events.EventRules.to_dict(); None for imported clips
    version: int = EVENTS_VERSION

    @property
    def frames(self) -> int:
        return self.context_frames + self.target_frames

    def to_json(self) -> dict:
        d: dict = {"version": self.version, "min_visible_pixels": self.min_visible_pixels}
        if self.version >= 2:
            d["rules"] = self.rules
        d.update(context_frames=self.context_frames, target_frames=self.target_frames,
                 subjects=[s.to_json() for s in self.subjects])
        return d

    def by_id(self) -> dict[int, SubjectEvents]:
        return {s.instance_id: s for s in self.subjects}

    def events(self) -> list[tuple[int, ExitEntry]]:
        """(instance_id, event) for every event, subjects in file order."""
        return [(s.instance_id, e) for s in self.subjects for e in s.events]

    def manifest_events(self) -> str:
        """The manifest's `events` column: JSON [{"instance_id", "exit_frame", "entry_frame"}, ...]."""
        return json.dumps([{"instance_id": iid, **e.to_json()} for iid, e in self.events()])

    @classmethod
    def from_json(cls, d: Any, source: str | None = None, frames: int | None = None) -> "EventsFile":
        """`frames`: the clip's frame count (camera.json's poses) that context + target frames must equal."""
        w = _source(source, "events.json")
        d = w.obj(d, "the file")
        version = w.version(d, EVENTS_VERSION) if "version" in d else EVENTS_VERSION
        c = w.int(d.get("context_frames"), "context_frames", 1)
        t = w.int(d.get("target_frames"), "target_frames", 0)
        if frames is not None and c + t != frames:
            raise w.fail(f"context_frames + target_frames = {c} + {t}, but camera.json has {frames} poses")
        listed = w.list(d.get("subjects"), "subjects")
        subjects = [SubjectEvents.from_json(s, w, i, c + t) for i, s in enumerate(listed)]
        _unique_ids(w, subjects)
        rules = d.get("rules")
        rules = dict(w.obj(rules, "rules")) if rules is not None else None
        return cls(c, t, subjects, w.opt_int(d.get("min_visible_pixels"), "min_visible_pixels", 0), rules, version)

    @classmethod
    def coerce(cls, d: "EventsFile | Mapping", source: str | None = None) -> "EventsFile":
        """A record from a record or an events.json dict (checked)."""
        return d if isinstance(d, cls) else cls.from_json(d, source)


def _unique_ids(w: Where, subjects: Sequence) -> None:
    seen: set[int] = set()
    for i, s in enumerate(subjects):
        if s.instance_id in seen:
            raise w.fail(f"field subjects[{i}].instance_id: {s.instance_id} appears twice")
        seen.add(s.instance_id)


# ------------------------------------------------------------------------------------------ reading
Record = TypeVar("Record", CameraFile, SubjectsFile, EventsFile)


def load(cls: type[Record], path: str | Path, clip_id: str | None = None, **kw) -> Record:
    """One per-clip file read and checked; every fault (missing, not JSON, a bad field) is a SchemaError that
    names the clip (when given), the file and the field. `kw`: `frames` for SubjectsFile / EventsFile."""
    path = Path(path)
    source = f"clip {clip_id}: {path}" if clip_id else str(path)
    try:
        d = read_json(path)
    except FileNotFoundError:
        raise SchemaError(f"{source} is missing") from None
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise SchemaError(f"{source}: not valid JSON ({exc})") from None
    except OSError as exc:
        raise SchemaError(f"{source}: cannot be read ({exc.strerror or exc})") from None
    return cls.from_json(d, source, **kw)
