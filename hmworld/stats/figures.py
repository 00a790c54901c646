"""The dataset card's figures: definitions, per-clip values from plain arrays, and summary statistics.

Pure functions, no files and no drawing. Conventions are the split format's: OpenCV camera-to-world poses
(x right, y down, z forward), world Z up, metres, frame indices from 0 at the first context frame.

* yaw: heading of the camera's forward axis about +Z (0 facing +X, counter-clockwise), unwrapped over frames;
* pitch: angle of the forward axis above (+) or below (-) the horizontal;
* roll: rotation of the image about the forward axis (0 when the camera's right axis is horizontal);
* per-frame rotation: the geodesic angle between consecutive camera orientations (any axis).
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Iterable

import numpy as np

# The main subject is instance 1: the one the camera frames at frame 0.
MAIN_INSTANCE = 1
# camera_tracks_subject: the camera travels at least this far over frames [0, C/2] ...
TRACK_MIN_TRAVEL_M = 0.5
# ... while the main subject's horizontal distance stays within this fraction of its frame-0 distance.
TRACK_DISTANCE_TOLERANCE = 0.35
# reentry_within_10_target_frames: entry_frame < context_frames + this.
EARLY_REENTRY_FRAMES = 10


@dataclass(frozen=True)
class Figure:
    name: str
    per: str     # what one value describes: clip | event | subject
    kind: str    # number | flag (true/false per item)
    unit: str
    stat: str    # the summary statistic shown by default
    family: str  # which plot it is drawn in: camera | subjects | events
    text: str    # definition, shown on the page


NUMBER_STATS = ("median", "mean", "min", "max")
FLAG_STATS = ("fraction", "count")
# flags are booleans: their fraction is the mean, their count the sum
STAT_FUNCTIONS = {"median": np.median, "mean": np.mean, "min": np.min, "max": np.max, "fraction": np.mean,
                  "count": np.sum}

FIGURES: dict[str, Figure] = {f.name: f for f in [
    Figure("camera_speed_context", "clip", "number", "m/frame", "median", "camera",
           "median camera translation per frame over the context frames (steps between frames 0 .. C-1)"),
    Figure("camera_speed_target", "clip", "number", "m/frame", "median", "camera",
           "median camera translation per frame over the target frames (steps from frame C-1 on)"),
    Figure("camera_path_context_m", "clip", "number", "m", "median", "camera",
           "distance the camera travels over the context frames"),
    Figure("camera_tracks_subject", "clip", "flag", "", "fraction", "camera",
           f"the camera travels >= {TRACK_MIN_TRAVEL_M} m over frames [0, C/2] and the main subject's horizontal "
           f"distance at frame C/2 is within +-{TRACK_DISTANCE_TOLERANCE:.0%} of its distance at frame 0"),
    Figure("total_rotation_deg", "clip", "number", "deg", "median", "camera",
           "sum over consecutive frames of the rotation angle between camera orientations"),
    Figure("max_abs_pitch_deg", "clip", "number", "deg", "max", "camera",
           "largest |pitch| (forward axis above or below the horizontal) over the clip's frames"),
    Figure("max_abs_roll_deg", "clip", "number", "deg", "max", "camera",
           "largest |roll| (image rotated about the forward axis) over the clip's frames"),
    Figure("yaw_rate_max_deg_per_frame", "clip", "number", "deg/frame", "median", "camera",
           "largest |yaw change| between consecutive frames"),
    Figure("yaw_rate_median_deg_per_frame", "clip", "number", "deg/frame", "median", "camera",
           "median |yaw change| between consecutive frames"),
    Figure("pan_peak_deg", "clip", "number", "deg", "median", "camera",
           "largest |yaw(t) - yaw(0)| over the clip (unwrapped)"),
    Figure("camera_height_m", "clip", "number", "m", "median", "camera",
           "median camera height (world Z) over the clip's frames"),
    Figure("main_subject_distance_frame0_m", "clip", "number", "m", "median", "subjects",
           "horizontal camera-to-subject distance at frame 0, main subject (instance 1)"),
    Figure("main_subject_box_height_frame0", "clip", "number", "of image height", "median", "subjects",
           "height of the main subject's visible box at frame 0 / image height (0 when not visible)"),
    Figure("subject_distance_frame0_m", "subject", "number", "m", "median", "subjects",
           "horizontal camera-to-subject distance at frame 0, every subject"),
    Figure("visible_fraction", "subject", "number", "", "median", "subjects",
           "fraction of the clip's frames in which the subject is visible"),
    Figure("subjects_per_clip", "clip", "number", "", "median", "subjects", "subjects in the clip"),
    Figure("subjects_never_visible", "subject", "flag", "", "count", "subjects",
           "subjects that are visible in no frame of their clip"),
    Figure("captions_naming_invisible", "clip", "flag", "", "count", "subjects",
           "clips whose caption contains (case-insensitive) the description of a subject that is never visible"),
    Figure("clips_with_event", "clip", "flag", "", "fraction", "events", "clips with at least one exit-entry event"),
    Figure("exit_frame", "event", "number", "frame", "median", "events", "first hidden frame of an exit-entry event"),
    Figure("entry_frame", "event", "number", "frame", "median", "events", "first visible frame after the exit"),
    Figure("hidden_gap_frames", "event", "number", "frame", "median", "events", "entry_frame - exit_frame"),
    Figure("reentry_within_10_target_frames", "event", "flag", "", "fraction", "events",
           f"events with entry_frame < C + {EARLY_REENTRY_FRAMES}"),
    Figure("reentry_subject_distance_m", "event", "number", "m", "median", "events",
           "horizontal camera-to-subject distance at the entry frame"),
    Figure("reentry_box_height", "event", "number", "of image height", "median", "events",
           "height of the subject's visible box at the entry frame / image height (0 when not visible)"),
]}


def stats_for(figure: Figure) -> tuple[str, ...]:
    return NUMBER_STATS if figure.kind == "number" else FLAG_STATS


def summarise(values: Iterable, stat: str) -> float | None:
    """`stat` over the known values (None = not available); None when no value is known."""
    known = [v for v in values if v is not None]
    if not known:
        return None
    if stat not in STAT_FUNCTIONS:
        raise ValueError(f"unknown statistic {stat!r}")
    return float(STAT_FUNCTIONS[stat](np.asarray(known, float)))


# ------------------------------------------------------------------------------------------------- camera
def camera_angles(c2w: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(yaw unwrapped, pitch, roll) in radians per frame, from OpenCV camera-to-world poses [F, 4, 4]."""
    right, down, fwd = c2w[:, :3, 0], c2w[:, :3, 1], c2w[:, :3, 2]
    yaw = np.unwrap(np.arctan2(fwd[:, 1], fwd[:, 0]))
    pitch = np.arcsin(np.clip(fwd[:, 2] / np.maximum(np.linalg.norm(fwd, axis=1), 1e-12), -1.0, 1.0))
    # A level camera's right axis is horizontal and its down axis points down: roll tilts the right axis.
    roll = np.arctan2(-right[:, 2], -down[:, 2])
    return yaw, pitch, roll


def rotation_steps(c2w: np.ndarray) -> np.ndarray:
    """Geodesic angle (radians) between consecutive camera orientations, [F-1]; atan2 keeps small angles exact."""
    rot = c2w[:, :3, :3]
    rel = np.swapaxes(rot[:-1], 1, 2) @ rot[1:]
    cos = (np.trace(rel, axis1=1, axis2=2) - 1.0) / 2.0
    axis = np.stack([rel[:, 2, 1] - rel[:, 1, 2], rel[:, 0, 2] - rel[:, 2, 0], rel[:, 1, 0] - rel[:, 0, 1]], -1)
    sin = np.linalg.norm(axis, axis=1) / 2.0
    return np.arctan2(sin, cos)


def camera_figures(c2w: np.ndarray, context_frames: int) -> dict:
    """Per-clip camera figures (see FIGURES) for poses [F, 4, 4]; F >= 2."""
    pos = c2w[:, :3, 3]
    steps = np.linalg.norm(np.diff(pos, axis=0), axis=1)  # step i: frame i -> i + 1
    c = int(context_frames)
    ctx, tgt = steps[: max(c - 1, 0)], steps[max(c - 1, 0):]
    yaw, pitch, roll = camera_angles(c2w)
    dyaw = np.abs(np.diff(yaw))
    return {
        "camera_speed_context": float(np.median(ctx)) if len(ctx) else None,
        "camera_speed_target": float(np.median(tgt)) if len(tgt) else None,
        "camera_path_context_m": float(ctx.sum()),
        "total_rotation_deg": float(np.degrees(rotation_steps(c2w).sum())),
        "max_abs_pitch_deg": float(np.degrees(np.abs(pitch).max())),
        "max_abs_roll_deg": float(np.degrees(np.abs(roll).max())),
        "yaw_rate_max_deg_per_frame": float(np.degrees(dyaw.max())),
        "yaw_rate_median_deg_per_frame": float(np.degrees(np.median(dyaw))),
        "pan_peak_deg": float(np.degrees(np.abs(yaw - yaw[0]).max())),
        "camera_height_m": float(np.median(pos[:, 2])),
    }


def travel(c2w: np.ndarray, start: int, stop: int) -> float:
    """Distance the camera travels from frame `start` to frame `stop` (inclusive ends)."""
    pos = c2w[start: stop + 1, :3, 3]
    return float(np.linalg.norm(np.diff(pos, axis=0), axis=1).sum()) if len(pos) > 1 else 0.0


def horizontal_distance(c2w: np.ndarray, positions: np.ndarray | None, frame: int) -> float | None:
    """Camera-to-subject distance in the ground plane at `frame`; None when the subject's position is unknown."""
    if positions is None or not (0 <= frame < len(positions)) or not np.all(np.isfinite(positions[frame])):
        return None
    d = c2w[frame, :2, 3] - positions[frame, :2]
    return float(math.hypot(d[0], d[1]))


def tracks_subject(c2w: np.ndarray, main_positions: np.ndarray | None, context_frames: int) -> bool | None:
    """camera_tracks_subject for one clip; None when the main subject's positions are unknown."""
    half = int(context_frames) // 2
    d0 = horizontal_distance(c2w, main_positions, 0)
    dh = horizontal_distance(c2w, main_positions, half)
    if d0 is None or dh is None:
        return None
    return bool(travel(c2w, 0, half) >= TRACK_MIN_TRAVEL_M and abs(dh - d0) <= TRACK_DISTANCE_TOLERANCE * d0)


# ---------------------------------------------------------------------------------------------- subjects
def visible_frames(intervals: list | None, frames: int) -> int | None:
    """Frames covered by half-open [start, end) intervals, clipped to the clip; None when unknown."""
    if intervals is None:
        return None
    mask = np.zeros(frames, bool)
    for start, end in intervals:
        mask[max(int(start), 0): max(min(int(end), frames), 0)] = True
    return int(mask.sum())


def box_height(visible_box: list | None, visible_pixels: int | None, image_height: float) -> float | None:
    """Visible box height / image height; 0 when the subject shows no pixels; None when the file does not say."""
    if visible_box is not None:
        return float(visible_box[3] - visible_box[1]) / float(image_height)
    if visible_pixels is None:
        return None
    return 0.0


def caption_names(caption: str, description: str | None) -> bool:
    """The caption contains the description (case-insensitive, whitespace folded)."""
    if not description or not description.strip():
        return False
    fold = lambda s: " ".join(s.lower().split())  # noqa: E731
    return fold(description) in fold(caption or "")
