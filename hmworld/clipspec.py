"""ClipSpec: everything a renderer needs to draw one clip, decided before any pixel is drawn.

A ClipSpec is pure data (names refer to the catalog; arrays are per frame). It serialises to JSON so a
remote renderer (Unreal) can draw the same clip, and the same ClipSpec gives the same clip on any backend.
"""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from hmworld.geometry import Intrinsics


@dataclass(frozen=True)
class VideoSpec:
    width: int
    height: int
    fps: float
    context_frames: int
    target_frames: int

    @property
    def num_frames(self) -> int:
        return self.context_frames + self.target_frames


@dataclass
class SubjectTrack:
    """One subject's motion. positions: [F, 3] ground point (metres); headings: [F] radians about +Z
    (0 = facing +X); walk_phase: [F] walk cycles completed (follows the distance walked)."""

    instance_id: int
    name: str
    trajectory: str
    speed: float
    positions: np.ndarray
    headings: np.ndarray
    walk_phase: np.ndarray

    def to_dict(self) -> dict:
        return {
            "instance_id": self.instance_id, "name": self.name, "trajectory": self.trajectory, "speed": self.speed,
            "positions": self.positions.tolist(), "headings": self.headings.tolist(),
            "walk_phase": self.walk_phase.tolist(),
        }

    @classmethod
    def from_dict(cls, d: dict) -> "SubjectTrack":
        return cls(d["instance_id"], d["name"], d["trajectory"], d["speed"], np.asarray(d["positions"], float),
                   np.asarray(d["headings"], float), np.asarray(d["walk_phase"], float))


@dataclass
class ClipSpec:
    clip_id: str
    seed: int  # the split's seed
    slot: int  # index of the clip in the split
    attempt: int  # which candidate of this slot was kept
    partition: str
    scene: str
    video: VideoSpec
    intrinsics: Intrinsics
    camera_trajectory: str
    camera_direction: str  # "left" | "right": the sampled sense of the camera motion
    camera_c2w: np.ndarray  # [F, 4, 4] OpenCV camera-to-world, metres
    subjects: list[SubjectTrack] = field(default_factory=list)

    @property
    def num_frames(self) -> int:
        return self.video.num_frames

    def to_dict(self) -> dict:
        v = self.video
        return {
            "clip_id": self.clip_id, "seed": self.seed, "slot": self.slot, "attempt": self.attempt,
            "partition": self.partition, "scene": self.scene,
            "video": {"width": v.width, "height": v.height, "fps": v.fps, "context_frames": v.context_frames,
                      "target_frames": v.target_frames},
            "intrinsics": self.intrinsics.to_dict(), "camera_trajectory": self.camera_trajectory,
            "camera_direction": self.camera_direction, "camera_c2w": self.camera_c2w.tolist(),
            "subjects": [s.to_dict() for s in self.subjects],
        }

    @classmethod
    def from_dict(cls, d: dict) -> "ClipSpec":
        return cls(
            d["clip_id"], d["seed"], d["slot"], d["attempt"], d["partition"], d["scene"], VideoSpec(**d["video"]),
            Intrinsics(**d["intrinsics"]), d["camera_trajectory"], d["camera_direction"],
            np.asarray(d["camera_c2w"], float), [SubjectTrack.from_dict(s) for s in d["subjects"]],
        )
