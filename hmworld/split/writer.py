"""Writing a split: identity check, atomic clip folders, and the manifest rebuilt from what is on disk.

Clips are written into `clips/.tmp-<id>-<random>/` and renamed to `clips/<id>/` when complete, so a killed
run leaves at most a temporary folder, which the next run for that clip removes. The manifest, captions
and split.json are always rebuilt from the clip folders under an exclusive lock, so shards writing into
one split never lose each other's rows.
"""
from __future__ import annotations

import shutil
import uuid
from collections import Counter
from pathlib import Path
from typing import Any, Iterable

import pandas as pd

from hmworld.errors import SplitError
from hmworld.fsutil import atomic_write_bytes, atomic_write_json, atomic_write_text, file_lock, read_json
from hmworld.split.format import (CAPTIONS, CLIP_JSON, CLIPS_DIR, FORMAT_VERSION, MANIFEST, MANIFEST_COLUMNS,
                                  SPLIT_JSON, TMP_PREFIX, ClipRecord, caption_line, fingerprint)

LOCK_NAME = ".lock"
IGNORED_ENTRIES = {LOCK_NAME, ".hydra-multirun"}


def _diff(a: Any, b: Any, prefix: str = "") -> list[str]:
    """Human-readable differences between two nested dicts (stored vs requested)."""
    if isinstance(a, dict) and isinstance(b, dict):
        out = []
        for key in sorted(set(a) | set(b)):
            out += _diff(a.get(key, "<missing>"), b.get(key, "<missing>"), f"{prefix}{key}.")
        return out
    return [] if a == b else [f"{prefix.rstrip('.')}: split has {a!r}, this run asks for {b!r}"]


class SplitWriter:
    def __init__(self, root: str | Path, identity: dict, num_clips: int):
        self.root = Path(root)
        self.identity = identity
        self.num_clips = num_clips
        self.clips_dir = self.root / CLIPS_DIR
        self.lock_path = self.root / LOCK_NAME

    # ----------------------------------------------------------------------------------------- open
    def open(self) -> "SplitWriter":
        """Create the split, or check that the folder holds this very split; fail before any rendering."""
        if self.root.exists() and not self.root.is_dir():
            raise SplitError(f"out={self.root} exists and is not a folder")
        self.root.mkdir(parents=True, exist_ok=True)
        self.clips_dir.mkdir(exist_ok=True)
        with file_lock(self.lock_path):
            info_path = self.root / SPLIT_JSON
            if info_path.exists():
                info = read_json(info_path)
                if info.get("format_version") != FORMAT_VERSION:
                    raise SplitError(f"{info_path}: format version {info.get('format_version')} is not "
                                     f"{FORMAT_VERSION}; render into a new folder")
                diffs = _diff(info.get("config"), self.identity)
                if diffs:
                    raise SplitError(f"out={self.root} holds a different split ({len(diffs)} difference(s)):\n  "
                                     + "\n  ".join(diffs) + "\nrender into a new folder, or rerun with the same settings")
            else:
                strangers = sorted(p.name for p in self.root.iterdir() if p.name not in IGNORED_ENTRIES | {CLIPS_DIR})
                if strangers or any(self.clips_dir.iterdir()):
                    raise SplitError(f"out={self.root} is not empty and holds no {SPLIT_JSON} "
                                     f"(found {strangers[:5] or 'clips/'}); choose an empty or new folder")
                self._write_info([], status="in_progress")
        return self

    # ---------------------------------------------------------------------------------------- clips
    def clip_dir(self, clip_id: str) -> Path:
        return self.clips_dir / clip_id

    def has_clip(self, clip_id: str) -> bool:
        return (self.clip_dir(clip_id) / CLIP_JSON).exists()

    def remove_stale(self, clip_ids: Iterable[str]) -> int:
        """Delete temporary folders left by killed runs for these clips (only ours: other shards own theirs)."""
        wanted = set(clip_ids)
        removed = 0
        for p in self.clips_dir.glob(f"{TMP_PREFIX}*"):
            clip_id = p.name[len(TMP_PREFIX):].rsplit("-", 1)[0]
            if clip_id in wanted:
                shutil.rmtree(p, ignore_errors=True)
                removed += 1
        return removed

    def begin_clip(self, clip_id: str) -> Path:
        tmp = self.clips_dir / f"{TMP_PREFIX}{clip_id}-{uuid.uuid4().hex[:8]}"
        tmp.mkdir()
        return tmp

    def abort_clip(self, tmp: Path) -> None:
        shutil.rmtree(tmp, ignore_errors=True)

    def commit_clip(self, tmp: Path, record: ClipRecord) -> None:
        """Write clip.json last, then rename the folder into place: the clip appears whole or not at all."""
        atomic_write_json(tmp / CLIP_JSON, record.to_json())
        final = self.clip_dir(record.clip_id)
        try:
            tmp.rename(final)
        except OSError:
            if self.has_clip(record.clip_id):  # another process finished the same clip first: keep theirs
                self.abort_clip(tmp)
            else:
                raise

    # ------------------------------------------------------------------------------------- finalize
    def records(self) -> list[ClipRecord]:
        return [r for _, r in clip_records(self.root)]

    def finalize(self, failed: Iterable[str] = ()) -> dict:
        """Rebuild manifest.parquet, captions.txt and split.json from the clip folders; returns split.json.

        `failed` lists clips this run gave up on; they stay recorded until a later run writes them.
        """
        with file_lock(self.lock_path):
            records = rebuild_manifest(self.root, locked=True)
            complete = len(records) >= self.num_clips
            previous = read_json(self.root / SPLIT_JSON).get("failed_clips", [])
            written = {r.clip_id for r in records}
            failed_now = sorted((set(previous) | set(failed)) - written)
            return self._write_info(records, status="complete" if complete else "in_progress", failed=failed_now)

    def _write_info(self, records: list[ClipRecord], status: str, failed: list[str] = ()) -> dict:
        rejections: Counter = Counter()
        for r in records:
            rejections.update(r.extra.get("rejections", {}))
        info = {
            "format_version": FORMAT_VERSION,
            "status": status,
            "num_clips": self.num_clips,
            "num_clips_written": len(records),
            "fingerprint": fingerprint(records) if status == "complete" else None,
            "failed_clips": list(failed),
            "config": self.identity,
            "stats": {
                "candidates_tried": sum(r.attempt + 1 for r in records),
                "rejections": dict(sorted(rejections.items())),
                "frames": sum(r.context_frames + r.target_frames for r in records),
            },
        }
        atomic_write_json(self.root / SPLIT_JSON, info)
        return info


def clip_records(root: Path) -> list[tuple[Path, ClipRecord]]:
    """(clip folder, record) for every finished clip of a split, in clip-id order (temporary folders ignored).
    The clip folders are the source of truth; the manifest is rebuilt from them."""
    clips = Path(root) / CLIPS_DIR
    out = []
    for p in sorted(clips.iterdir()) if clips.is_dir() else []:
        if not p.name.startswith(TMP_PREFIX) and (p / CLIP_JSON).exists():
            out.append((p, ClipRecord.from_json(read_json(p / CLIP_JSON))))
    return out


def rebuild_manifest(root: Path, locked: bool = False) -> list[ClipRecord]:
    """manifest.parquet and captions.txt from every clip.json, under the split's lock (`locked=True` when the
    caller already holds it)."""
    if not locked:
        with file_lock(Path(root) / LOCK_NAME):
            return rebuild_manifest(root, locked=True)
    records = [r for _, r in clip_records(root)]
    write_manifest(Path(root), records)
    return records


def write_manifest(root: Path, records: list[ClipRecord]) -> None:
    """manifest.parquet and captions.txt for these records (atomically each)."""
    frame = pd.DataFrame([r.row() for r in records], columns=MANIFEST_COLUMNS)
    atomic_write_bytes(root / MANIFEST, frame.to_parquet(index=False))
    atomic_write_text(root / CAPTIONS, "".join(caption_line(r) + "\n" for r in records))
