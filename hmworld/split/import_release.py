"""`hmworld import-hmworld`: the official HM-World release -> our split format (so cache, train and score run on it).

Built from the authors' own loader's description of the raw layout (their diffusion-forcing-transformer fork),
**not verified against the released files** (see model/TRAINING.md for what is assumed):

* ``<src>/captions.txt``: ``relative/path.mp4<TAB>caption`` per line (two or more spaces also separate);
* per clip, beside the video: a camera JSON (any ``*.json`` that is neither ``*_check.json`` nor
  ``*_character.json``; ``<video stem>.json`` preferred) mapping frame index strings to Unreal camera-to-world
  4x4 matrices written as four bracketed column strings ``"[a b c d] [e f g h] [..] [..]"`` (or 16 numbers,
  row-major), centimetres; a ``*_check.json`` with the exit/entry frames; a ``*_character.json`` with the subjects;
* about 149 frames: frame 0 is replaced by frame 1, the clip is padded (last frame repeated) or cut to 150,
  split 75 / 75, and each half padded to 77 by repeating its first and last frame, as the authors' loader does;
  the camera poses get the same treatment (missing frame keys repeat the previous pose).

Camera poses go through `hmworld.ue_axes` (the one module that knows Unreal axes). Imported clips have no instance
masks and no boxes: ``events.json`` has ``min_visible_pixels`` and ``visible_intervals`` null, every subject frame
has ``box``/``visible_box``/``visible_pixels`` null, and no ``instances.npz`` is written, so the scorer uses
detector-only DSC on them.
"""
from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from hmworld.errors import ConfigError, SplitError
from hmworld.fsutil import read_json, sha256_file, write_json
from hmworld.progress import SILENT, Progress
from hmworld.split.format import CLIP_FILES, ClipRecord, one_line
from hmworld.split.schema import (CameraFile, EventsFile, ExitEntry, SubjectEntry, SubjectEvents, SubjectFrame,
                                  SubjectsFile)
from hmworld.split.writer import SplitWriter
from hmworld.ue_axes import ue_c2w_to_opencv, ue_hfov_to_fx, ue_location_to_world
from hmworld.video import probe_video, read_video, write_video

IMPORTER_VERSION = 1
RAW_FRAMES = 150  # the loader pads/cuts every clip to this many frames before splitting
HALF_RAW = 75
HALF = 77  # each half after padding one frame at each end (4k+1: 20 latents)

# Subject names -> COCO-80 classes, by keyword (the release's character files name assets, not classes).
_COCO = [("bird", 14), ("eagle", 14), ("parrot", 14), ("crow", 14), ("cat", 15), ("dog", 16), ("wolf", 16),
         ("fox", 16), ("horse", 17), ("pony", 17), ("sheep", 18), ("goat", 18), ("cow", 19), ("bull", 19),
         ("elephant", 20), ("bear", 21), ("zebra", 22), ("giraffe", 23)]
_COCO_NAMES = {0: "person", 14: "bird", 15: "cat", 16: "dog", 17: "horse", 18: "sheep", 19: "cow", 20: "elephant",
               21: "bear", 22: "zebra", 23: "giraffe"}


@dataclass
class ImportReport:
    out: Path
    written: int = 0
    already: int = 0
    events_dropped: int = 0
    problems: list = field(default_factory=list)
    info: dict | None = None


# ------------------------------------------------------------------------------------------------ parsing
def parse_captions(path: Path) -> list[tuple[str, str]]:
    if not path.is_file():
        raise ConfigError(f"src: {path} not found (the release's captions.txt lists the clips)")
    out = []
    for n, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
        line = line.strip()
        if not line:
            continue
        parts = re.split(r"\t+", line, maxsplit=1)
        if len(parts) < 2:
            parts = re.split(r"\s{2,}", line, maxsplit=1)
        rel = parts[0].strip()
        if not rel.endswith(".mp4"):
            raise ConfigError(f"{path}:{n}: expected `relative/path.mp4<TAB>caption`, got {line[:80]!r}")
        out.append((rel, parts[1].strip() if len(parts) > 1 else ""))
    if not out:
        raise ConfigError(f"{path}: no clips listed")
    return out


def parse_ue_matrix(value: Any, where: str) -> np.ndarray:
    """One frame's Unreal camera-to-world matrix: four bracketed COLUMN strings, or 16 numbers row-major."""
    if isinstance(value, str):
        groups = re.findall(r"\[([^\]]*)\]", value)
        try:
            cols = [[float(x) for x in g.replace(",", " ").split()] for g in groups]
        except ValueError as exc:
            raise SplitError(f"{where}: not numbers ({exc})") from exc
        if len(cols) != 4 or any(len(c) != 4 for c in cols):
            raise SplitError(f"{where}: expected four bracketed columns of 4 numbers, got {value[:80]!r}")
        return np.asarray(cols, float).T
    arr = np.asarray(value, float)
    if arr.size != 16:
        raise SplitError(f"{where}: expected a 4x4 matrix, got {arr.size} numbers")
    return arr.reshape(4, 4)


def parse_camera(path: Path, raw_frames: int) -> np.ndarray:
    """Unreal matrices [raw_frames, 4, 4] (missing frame keys repeat the previous frame's pose)."""
    try:
        data = read_json(path)
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise SplitError(f"{path}: not JSON ({exc})") from exc
    if not isinstance(data, dict) or not data:
        raise SplitError(f"{path}: expected an object mapping frame index strings to matrices")
    bad = [k for k in data if not str(k).isdigit()]
    if bad:
        raise SplitError(f"{path}: field {bad[0]!r} is not a frame index")
    mats: list[np.ndarray] = []
    for i in range(raw_frames):
        if str(i) in data:
            mats.append(parse_ue_matrix(data[str(i)], f"{path}: field {str(i)!r}"))
        elif mats:
            mats.append(mats[-1])
    if not mats:
        raise SplitError(f"{path}: no pose for frames 0..{raw_frames - 1}")
    first_key = min(int(k) for k in data)
    if first_key > 0:  # poses before the first key repeat it
        head = parse_ue_matrix(data[str(first_key)], f"{path}: field {str(first_key)!r}")
        mats = [head] * (raw_frames - len(mats)) + mats
    return np.stack(mats)


def parse_check(path: Path | None) -> list[dict]:
    """Exit/entry frames (raw indices) from a ``*_check.json``; several plausible shapes are accepted."""
    if path is None:
        return []
    data = read_json(path)
    if isinstance(data, dict):
        for key in ("events", "exit_entry", "check", "frames"):
            if key in data:
                data = data[key]
                break
        else:  # subject name -> events
            data = [dict(e, subject=k) if isinstance(e, dict) else {"subject": k, "pair": e}
                    for k, v in data.items() for e in (v if isinstance(v, list) and v and isinstance(v[0], (list, dict)) else [v])]
    if not isinstance(data, list):
        raise SplitError(f"{path}: expected a list of exit/entry frames")
    out = []
    for i, e in enumerate(data):
        pair = e.get("pair") if isinstance(e, dict) else e
        if isinstance(e, dict) and pair is None:
            ex = e.get("exit_frame", e.get("exit"))
            en = e.get("entry_frame", e.get("entry"))
            subject = e.get("subject", e.get("character", e.get("name")))
        elif isinstance(pair, (list, tuple)) and len(pair) == 2:
            ex, en = pair
            subject = e.get("subject") if isinstance(e, dict) else None
        else:
            raise SplitError(f"{path}: entry {i}: expected {{exit_frame, entry_frame}} or [exit, entry], got {e!r}")
        if ex is None or en is None:
            raise SplitError(f"{path}: entry {i}: field exit_frame/entry_frame missing")
        out.append({"exit": int(ex), "entry": int(en), "subject": subject})
    return out


def parse_characters(path: Path | None) -> list[dict]:
    """Subjects from a ``*_character.json``: name, optional per-frame positions (cm, Unreal)."""
    if path is None:
        return []
    data = read_json(path)
    if isinstance(data, dict):
        for key in ("characters", "subjects", "character"):
            if key in data and isinstance(data[key], list):
                data = data[key]
                break
        else:
            data = [dict(v, name=k) if isinstance(v, dict) else {"name": k, "positions": v} for k, v in data.items()]
    if not isinstance(data, list):
        raise SplitError(f"{path}: expected a list of characters")
    out = []
    for i, c in enumerate(data):
        if isinstance(c, str):
            c = {"name": c}
        if not isinstance(c, dict):
            raise SplitError(f"{path}: entry {i}: expected an object, got {c!r}")
        name = str(c.get("name") or c.get("character") or c.get("asset") or f"subject_{i + 1}")
        pos = c.get("positions", c.get("location", c.get("locations")))
        out.append({"name": name, "positions": pos})
    return out


def coco_of(name: str) -> int:
    low = name.lower()
    for key, cls in _COCO:
        if key in low:
            return cls
    return 0


# ------------------------------------------------------------------------------------------------ padding
def raw_to_padded(f: int) -> int:
    """Raw frame index -> index in the padded 77 + 77 sequence (frame 0 duplicates frame 1)."""
    p = min(max(f, 0), RAW_FRAMES - 1)
    return p + 1 if p < HALF_RAW else HALF + (p - HALF_RAW) + 1


def pad_sequence(items: np.ndarray) -> np.ndarray:
    """[T, ...] raw frames or poses -> [154, ...] as the authors' loader: 0 := 1, pad/cut to 150, 75/75, +1 each end."""
    x = np.asarray(items)
    if len(x) > 1:
        x = x.copy()
        x[0] = x[1]
    if len(x) < RAW_FRAMES:
        x = np.concatenate([x, np.repeat(x[-1:], RAW_FRAMES - len(x), axis=0)])
    x = x[:RAW_FRAMES]
    halves = [x[:HALF_RAW], x[HALF_RAW:]]
    return np.concatenate([np.concatenate([h[:1], h, h[-1:]]) for h in halves])


# ------------------------------------------------------------------------------------------------ import
def _side_files(video: Path) -> tuple[Path, Path | None, Path | None]:
    folder = video.parent
    jsons = sorted(p for p in folder.glob("*.json"))
    check = [p for p in jsons if p.name.endswith("_check.json")]
    chars = [p for p in jsons if p.name.endswith("_character.json")]
    cams = [p for p in jsons if p not in check and p not in chars]
    stem_match = [p for p in cams if p.stem == video.stem]
    if stem_match:
        cam = stem_match[0]
    elif len(cams) == 1:
        cam = cams[0]
    elif not cams:
        raise SplitError(f"{video}: no camera JSON beside it (any *.json other than *_check.json / *_character.json)")
    else:
        raise SplitError(f"{video}: several camera JSON candidates beside it ({[p.name for p in cams]}); "
                         f"name the camera {video.stem}.json")
    pick = lambda found: (next((p for p in found if p.name.startswith(video.stem)), found[0]) if found else None)  # noqa: E731
    return cam, pick(check), pick(chars)


def release_clip_id(rel: str, partition: str) -> str:
    """Our clip id for a release video path (hmworld.compositor.clip_id_for names rendered clips)."""
    parts = list(Path(rel[: -len(".mp4")]).parts)
    if len(parts) > 1 and parts[-1] == parts[-2]:  # <clip>/<clip>.mp4: name the clip once
        parts.pop()
    stem = re.sub(r"[^A-Za-z0-9]+", "_", "_".join(parts)).strip("_")
    return f"{partition}_{stem}"


def import_release(src: str | Path, out: str | Path, *, partition: str = "release", hfov_deg: float = 90.0,
                   limit: int | None = None, progress: Progress = SILENT) -> ImportReport:
    src, out = Path(src), Path(out)
    if not src.is_dir():
        raise ConfigError(f"src={src}: not a folder")
    entries = parse_captions(src / "captions.txt")
    if limit is not None:
        entries = entries[: int(limit)]
    identity = {"source": "hm-world-release", "importer_version": IMPORTER_VERSION, "src": str(src.resolve()),
                "partition": partition, "hfov_deg": float(hfov_deg), "clips": [rel for rel, _ in entries],
                "padding": "frame0:=frame1, pad/cut to 150, 75/75, each half +first +last -> 77/77",
                "instance_masks": False}
    writer = SplitWriter(out, identity, num_clips=len(entries)).open()
    ids = [release_clip_id(rel, partition) for rel, _ in entries]
    if len(set(ids)) != len(ids):
        raise ConfigError(f"{src / 'captions.txt'}: two paths map to the same clip id")
    writer.remove_stale(ids)
    report = ImportReport(out)
    imported = progress.start("importing clips", len(entries))
    try:
        for slot, ((rel, caption), clip_id) in enumerate(zip(entries, ids)):
            if writer.has_clip(clip_id):
                report.already += 1
            else:
                tmp = writer.begin_clip(clip_id)
                try:
                    record, dropped = _import_clip(src, rel, caption, clip_id, slot, partition, hfov_deg, tmp)
                    writer.commit_clip(tmp, record)
                except BaseException:
                    writer.abort_clip(tmp)
                    raise
                report.written += 1
                report.events_dropped += dropped
            imported.advance()
    finally:
        imported.close()
        report.info = writer.finalize()
    return report


def _import_clip(src: Path, rel: str, caption: str, clip_id: str, slot: int, partition: str, hfov_deg: float,
                 tmp: Path) -> tuple[ClipRecord, int]:
    video = src / rel
    if not video.is_file():
        raise SplitError(f"{src / 'captions.txt'}: {rel} listed but not found")
    cam_path, check_path, char_path = _side_files(video)
    info = probe_video(video)
    frames = pad_sequence(read_video(video))
    ue = pad_sequence(parse_camera(cam_path, RAW_FRAMES - 1))
    c2w = ue_c2w_to_opencv(ue)
    h, w = frames.shape[1:3]
    if (h, w) != (info.height, info.width):
        raise SplitError(f"{video}: decoded {w}x{h}, container says {info.width}x{info.height}")
    fps = float(info.fps or 15.0)
    write_video(tmp / CLIP_FILES["video_path"], frames, fps)
    fx = float(ue_hfov_to_fx(hfov_deg, w))
    write_json(tmp / CLIP_FILES["camera_path"], CameraFile(
        int(w), int(h), fps, {"fx": fx, "fy": fx, "cx": (w - 1) / 2, "cy": (h - 1) / 2},
        [m.reshape(16).tolist() for m in c2w]).to_json())

    chars = parse_characters(char_path)
    events_raw = parse_check(check_path)
    names = [c["name"] for c in chars]
    for e in events_raw:  # subjects named only in the check file still become subjects
        if e["subject"] is not None and str(e["subject"]) not in names:
            names.append(str(e["subject"]))
            chars.append({"name": str(e["subject"]), "positions": None})
    if not chars and events_raw:
        chars = [{"name": "subject_1", "positions": None}]
        names = ["subject_1"]
    n_frames = 2 * HALF
    subjects, ev_subjects, dropped = [], [], 0
    for k, c in enumerate(chars, 1):
        positions = _positions(c.get("positions"), n_frames, char_path)
        cls = coco_of(c["name"])
        subjects.append(SubjectEntry(k, c["name"], kind="human" if cls == 0 else "animal", coco_class=cls,
                                     coco_name=_COCO_NAMES[cls],
                                     frames=[SubjectFrame(p, None, None, None, None) for p in positions]))
        evs = []
        for e in events_raw:
            if e["subject"] is not None and str(e["subject"]) != c["name"]:
                continue
            if e["subject"] is None and len(chars) > 1 and k > 1:
                continue  # unattributed events go to the first subject
            ex, en = raw_to_padded(e["exit"]), raw_to_padded(e["entry"])
            if ex < HALF <= en and ex < en:
                evs.append(ExitEntry(ex, en))
            else:
                dropped += 1  # not an exit in the context half and an entry in the target half
        dropped += max(len(evs) - 1, 0)  # the definition allows one event per subject and clip: keep the first
        ev_subjects.append(SubjectEvents(k, None, evs[:1]))
    events = EventsFile(HALF, HALF, ev_subjects)  # no masks: min_visible_pixels, rules and intervals null
    write_json(tmp / CLIP_FILES["subjects_path"], SubjectsFile(subjects).to_json())
    write_json(tmp / CLIP_FILES["events_path"], events.to_json())
    scene = Path(rel).parts[0] if len(Path(rel).parts) > 1 else "unknown"
    record = ClipRecord(
        clip_id=clip_id, scene=scene, partition=partition, subjects=names, trajectories=["unknown"] * len(names),
        camera_trajectory="unknown", seed=0, slot=slot, attempt=0, width=int(w), height=int(h), fps=fps,
        context_frames=HALF, target_frames=HALF, events=events.manifest_events(),
        caption=one_line(caption), caption_source="hm-world-release",
        video_sha256=sha256_file(tmp / CLIP_FILES["video_path"]),
        extra={"imported_from": rel, "camera_json": cam_path.name, "instance_masks": False,
               "raw_frames": int(info.frames), "events_dropped": dropped})
    return record, dropped


def _positions(raw: Any, n_frames: int, path: Path | None) -> list:
    """Per padded frame: ground position in metres (our world) or None when the file gives none."""
    if raw is None:
        return [None] * n_frames
    if isinstance(raw, dict):
        arr = [raw.get(str(i)) for i in range(RAW_FRAMES - 1)]
        last = None
        for i, v in enumerate(arr):
            arr[i] = v if v is not None else last
            last = arr[i]
    else:
        arr = list(raw)
    if not arr or all(v is None for v in arr):
        return [None] * n_frames
    first = next(v for v in arr if v is not None)
    arr = [first if v is None else v for v in arr]
    try:
        pts = np.asarray([np.asarray(v, float)[:3] for v in arr])
    except (ValueError, TypeError, IndexError) as exc:
        raise SplitError(f"{path}: field positions must be [x, y, z] per frame ({exc})") from exc
    world = ue_location_to_world(pad_sequence(pts))
    return [[float(x) for x in p] for p in world]
