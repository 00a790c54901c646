"""Reading a split: `Split(path)` gives the manifest, split.json, and `Clip`s with lazy frames and metadata.

    split = Split("data/train")
    for clip in split:
        ctx, tgt = clip.context(), clip.target()      # uint8 [T, H, W, 3]
        c2w = clip.camera.c2w                         # [F, 4, 4] OpenCV camera-to-world, metres
        clip.events_file.subjects[0].events           # [ExitEntry(exit_frame, entry_frame)]

The per-clip files come as checked records of hmworld.split.schema (`camera_file`, `subjects_file`,
`events_file`; `.to_json()` gives the file's dict).
"""
from __future__ import annotations

import io
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path
from typing import Iterator

import numpy as np
import pandas as pd

from hmworld.errors import SplitError
from hmworld.fsutil import read_json
from hmworld.geometry import Intrinsics
from hmworld.split import schema
from hmworld.split.format import FORMAT_VERSION, MANIFEST, SPLIT_JSON
from hmworld.split.schema import CameraFile, EventsFile, SubjectsFile
from hmworld.video import read_video


@dataclass(frozen=True)
class CameraTrack:
    c2w: np.ndarray  # [F, 4, 4]
    intrinsics: Intrinsics
    width: int
    height: int
    fps: float


class Clip:
    def __init__(self, root: Path, row: dict):
        self.root = root
        self.row = row

    def __repr__(self) -> str:
        return f"Clip({self.clip_id!r}, scene={self.row['scene']!r}, subjects={list(self.row['subjects'])})"

    @property
    def clip_id(self) -> str:
        return self.row["clip_id"]

    @property
    def caption(self) -> str:
        return self.row["caption"]

    @property
    def context_frames(self) -> int:
        return int(self.row["context_frames"])

    @property
    def target_frames(self) -> int:
        return int(self.row["target_frames"])

    def path(self, key: str) -> Path:
        return self.root / self.row[key]

    @property
    def video_path(self) -> Path:
        return self.path("video_path")

    def frames(self, start: int = 0, stop: int | None = None) -> np.ndarray:
        return read_video(self.video_path, start, stop)

    def context(self) -> np.ndarray:
        return self.frames(0, self.context_frames)

    def target(self) -> np.ndarray:
        return self.frames(self.context_frames, self.context_frames + self.target_frames)

    @cached_property
    def camera_file(self) -> CameraFile:
        return schema.load(CameraFile, self.path("camera_path"), self.clip_id)

    @cached_property
    def subjects_file(self) -> SubjectsFile | None:
        """None when the clip has no subjects.json (the format allows imported clips without one)."""
        path = self.path("subjects_path")
        return schema.load(SubjectsFile, path, self.clip_id) if path.is_file() else None

    @cached_property
    def events_file(self) -> EventsFile:
        return schema.load(EventsFile, self.path("events_path"), self.clip_id)

    @cached_property
    def camera(self) -> CameraTrack:
        f = self.camera_file
        return CameraTrack(f.poses, Intrinsics(**f.intrinsics), f.width, f.height, f.fps)

    def instances(self) -> np.ndarray:
        """uint8 [F, H, W] instance ids (0 background). Clips imported from the official release have none."""
        path = self.path("instances_path")
        if not path.is_file():
            raise SplitError(f"clip {self.clip_id}: no instance masks ({path} does not exist; clips imported from "
                             "the official release carry none)")
        with np.load(path) as z:
            return z["instances"]


def read_split_info(root: str | Path) -> dict:
    """split.json of a split folder, checked for this toolkit's format version."""
    info_path = Path(root) / SPLIT_JSON
    if not info_path.exists():
        raise SplitError(f"split={root}: no {SPLIT_JSON} (not a split folder)")
    info = read_json(info_path)
    if info.get("format_version") != FORMAT_VERSION:
        raise SplitError(f"split={root}: format version {info.get('format_version')}, "
                         f"this toolkit reads {FORMAT_VERSION}")
    return info


def read_manifest(path: Path) -> pd.DataFrame:
    """manifest.parquet read from one snapshot of its bytes: pyarrow opens a path more than once, and another
    shard may replace the file in between (seen as 'Page was smaller than expected' under a joblib multirun)."""
    return pd.read_parquet(io.BytesIO(Path(path).read_bytes()))


class Split:
    def __init__(self, root: str | Path):
        self.root = Path(root)
        self.info = read_split_info(self.root)
        manifest_path = self.root / MANIFEST
        if not manifest_path.exists():
            raise SplitError(f"split={self.root}: no {MANIFEST} (the split was never finalised)")
        self.manifest = read_manifest(manifest_path)
        self._index = {cid: i for i, cid in enumerate(self.manifest["clip_id"])}

    @property
    def fingerprint(self) -> str | None:
        return self.info.get("fingerprint")

    @property
    def complete(self) -> bool:
        return self.info.get("status") == "complete"

    @property
    def clip_ids(self) -> list[str]:
        return list(self.manifest["clip_id"])

    def __len__(self) -> int:
        return len(self.manifest)

    def __iter__(self) -> Iterator[Clip]:
        for i in range(len(self)):
            yield self[i]

    def __getitem__(self, key: int | str) -> Clip:
        if isinstance(key, str):
            if key not in self._index:
                raise KeyError(f"clip {key!r} is not in split {self.root}")
            key = self._index[key]
        row = self.manifest.iloc[key].to_dict()
        return Clip(self.root, row)
