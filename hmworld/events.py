"""Exit/entry events: the definition, the truth from rendered instance masks, and a geometric pre-filter.

Definition (ARCHITECTURE.md): a subject is visible in a frame when at least `min_visible_pixels` of its
pixels show in the instance mask. An exit-entry event has the subject visible at some frame before
`exit_frame`, hidden on [exit_frame, entry_frame), visible at `entry_frame`, and
exit_frame < context_frames <= entry_frame. The hidden run must therefore contain frame context_frames-1,
so a subject has at most one event per clip.

The pre-filter predicts the same thing from geometry alone (no pixels): each subject is a vertical cylinder
projected into every frame, props are circles in plan that block the line of sight when tall enough. It only
saves rendering time; the masks decide which clips are kept.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from hmworld.catalog import SceneSpec, SubjectSpec
from hmworld.clipspec import ClipSpec

EVENTS_VERSION = 1


# ----------------------------------------------------------------------------------------- definitions
def visible_intervals(visible: np.ndarray) -> list[list[int]]:
    """Half-open [start, end) runs of True in a 1-D boolean array."""
    v = np.concatenate([[False], np.asarray(visible, bool), [False]])
    edges = np.flatnonzero(np.diff(v.astype(np.int8)))
    return [[int(a), int(b)] for a, b in zip(edges[::2], edges[1::2])]


def exit_entry(visible: np.ndarray, context_frames: int) -> dict | None:
    """The subject's exit-entry event, or None. `visible` is [frames] bool."""
    visible = np.asarray(visible, bool)
    c = context_frames
    if c < 1 or c >= len(visible) or visible[c - 1]:
        return None
    before = np.flatnonzero(visible[: c - 1])
    after = np.flatnonzero(visible[c:])
    if len(before) == 0 or len(after) == 0:
        return None
    return {"exit_frame": int(before[-1] + 1), "entry_frame": int(c + after[0])}


def has_event(visible: np.ndarray, context_frames: int) -> np.ndarray:
    """Vectorised event test over leading axes of a [..., frames] boolean array."""
    c = context_frames
    return (~visible[..., c - 1]) & visible[..., : c - 1].any(-1) & visible[..., c:].any(-1)


def min_visible_pixels(width: int, height: int, fraction: float, floor: int) -> int:
    return max(int(floor), int(round(fraction * width * height)))


@dataclass
class ClipEvents:
    """events.json content for one clip."""

    min_visible_pixels: int | None
    context_frames: int
    target_frames: int
    subjects: list[dict]  # {"instance_id", "visible_intervals", "events": [{"exit_frame", "entry_frame"}]}

    @property
    def has_event(self) -> bool:
        return any(s["events"] for s in self.subjects)

    def to_dict(self) -> dict:
        return {"version": EVENTS_VERSION, "min_visible_pixels": self.min_visible_pixels,
                "context_frames": self.context_frames, "target_frames": self.target_frames,
                "subjects": self.subjects}


def events_from_visibility(visible: np.ndarray, instance_ids: list[int], context_frames: int,
                           min_pixels: int | None) -> ClipEvents:
    """visible: [frames, subjects] bool, columns in the order of instance_ids."""
    subjects = []
    for j, iid in enumerate(instance_ids):
        ev = exit_entry(visible[:, j], context_frames)
        subjects.append({"instance_id": int(iid), "visible_intervals": visible_intervals(visible[:, j]),
                         "events": [ev] if ev else []})
    return ClipEvents(min_pixels, context_frames, visible.shape[0] - context_frames, subjects)


def pixel_counts(instances: np.ndarray, instance_ids: list[int]) -> np.ndarray:
    """[frames, subjects] count of mask pixels per subject; instances is uint8 [frames, H, W]."""
    counts = np.stack([np.bincount(f.ravel(), minlength=256) for f in instances])  # one pass per frame
    return counts[:, instance_ids]


# ------------------------------------------------------------------------------------------ pre-filter
@dataclass
class PrefilterBatch:
    """Geometry of N candidate clips, padded to S subjects and P props (masks mark real entries)."""

    c2w: np.ndarray  # [N, F, 4, 4]
    intrinsics: np.ndarray  # [N, 4] fx, fy, cx, cy
    feet: np.ndarray  # [N, S, F, 3]
    height: np.ndarray  # [N, S]
    radius: np.ndarray  # [N, S]
    subject_mask: np.ndarray  # [N, S] bool
    props: np.ndarray  # [N, P, 4] x, y, footprint radius, height
    prop_mask: np.ndarray  # [N, P] bool

    def slice(self, start: int, stop: int) -> "PrefilterBatch":
        return PrefilterBatch(*(getattr(self, f)[start:stop] for f in self.__dataclass_fields__))

    @classmethod
    def from_specs(cls, specs: list[ClipSpec], scenes: dict[str, SceneSpec],
                   subjects: dict[str, SubjectSpec]) -> "PrefilterBatch":
        n, f = len(specs), specs[0].num_frames
        s_max = max(len(c.subjects) for c in specs)
        p_max = max(1, max(len(scenes[c.scene].props) for c in specs))
        b = cls(np.zeros((n, f, 4, 4), np.float32), np.zeros((n, 4), np.float32), np.zeros((n, s_max, f, 3), np.float32),
                np.zeros((n, s_max), np.float32), np.zeros((n, s_max), np.float32), np.zeros((n, s_max), bool),
                np.zeros((n, p_max, 4), np.float32), np.zeros((n, p_max), bool))
        for i, c in enumerate(specs):
            b.c2w[i] = c.camera_c2w
            k = c.intrinsics
            b.intrinsics[i] = (k.fx, k.fy, k.cx, k.cy)
            for j, t in enumerate(c.subjects):
                sub = subjects[t.name]
                b.feet[i, j] = t.positions
                b.height[i, j], b.radius[i, j], b.subject_mask[i, j] = sub.height, sub.radius, True
            for j, p in enumerate(scenes[c.scene].props):
                b.props[i, j] = (p.position[0], p.position[1], p.footprint_radius, p.size[2])
                b.prop_mask[i, j] = True
        return b


def predicted_visibility(b: PrefilterBatch, width: int, height: int, min_pixels: int, fill_factor: float = 0.5,
                         occluders: bool = True, near: float = 0.05) -> np.ndarray:
    """[N, S, F] bool: predicted visible (approximate pixel area >= min_pixels and not behind a prop)."""
    rot = b.c2w[:, None, :, :3, :3]  # [N, 1, F, 3, 3]
    origin = b.c2w[:, None, :, :3, 3]  # [N, 1, F, 3]
    fx, fy, cx, cy = (b.intrinsics[:, i, None, None] for i in range(4))
    rel_feet = b.feet - origin
    # camera coords of the feet and of the head point; rot^T @ rel as three dot products
    up = rot[..., 2, :]  # world z row of each camera axis: the camera-frame direction of world +z
    cam_feet = (rel_feet[..., None, :] @ rot)[..., 0, :]
    cam_head = cam_feet + b.height[:, :, None, None] * up
    z0, z1 = cam_feet[..., 2], cam_head[..., 2]
    in_front = (z0 > near) & (z1 > near)
    z0s, z1s = np.maximum(z0, near), np.maximum(z1, near)
    u0, u1 = fx * cam_feet[..., 0] / z0s + cx, fx * cam_head[..., 0] / z1s + cx
    v0, v1 = fy * cam_feet[..., 1] / z0s + cy, fy * cam_head[..., 1] / z1s + cy
    half_w = fx * b.radius[:, :, None] / np.minimum(z0s, z1s)
    x_lo = np.clip(np.minimum(u0, u1) - half_w, 0, width)
    x_hi = np.clip(np.maximum(u0, u1) + half_w, 0, width)
    y_lo = np.clip(np.minimum(v0, v1), 0, height)
    y_hi = np.clip(np.maximum(v0, v1), 0, height)
    area = (x_hi - x_lo) * (y_hi - y_lo) * fill_factor
    visible = in_front & (area >= min_pixels) & b.subject_mask[:, :, None]
    if occluders:
        visible &= ~_occluded(b, visible)
    return visible


def _occluded(b: PrefilterBatch, candidates: np.ndarray) -> np.ndarray:
    """For the True entries of `candidates` [N, S, F]: does the sight line from the camera to the subject's
    centre pass through a tall-enough prop? Returns [N, S, F] (False elsewhere).

    In plan, a prop (circle of radius r at distance d) hides the bearings within asin(r / d) of its own; it
    occludes when the subject's bearing falls inside, the prop is nearer than the subject, and the sight line
    is still below the prop's top where it passes it. Only entries that are otherwise visible are tested, as
    a flat list of (entry, prop) pairs: hidden, off-screen and padding entries cost nothing.
    """
    n, s, f = np.nonzero(candidates)
    out = np.zeros(candidates.shape, bool)
    if len(n) == 0:
        return out
    cam = b.c2w[n, f, :3, 3]  # [M, 3]
    props = b.props[n]  # [M, P, 4]
    w = props[..., :2] - cam[:, None, :2]
    dist_p = np.sqrt((w * w).sum(-1)) + 1e-6  # [M, P]
    cos_half = np.sqrt(np.clip(1.0 - (props[..., 2] / dist_p) ** 2, 0.0, 1.0))  # cos(asin(r / d))
    d = b.feet[n, s, f, :2] - cam[:, :2]  # [M, 2]
    dist_s = np.sqrt((d * d).sum(-1)) + 1e-6
    cos_delta = (w[..., 0] * d[:, None, 0] + w[..., 1] * d[:, None, 1]) / (dist_p * dist_s[:, None])
    ratio = dist_p / dist_s[:, None]  # < 1: the prop is nearer than the subject
    sight_z = cam[:, None, 2] + (0.5 * b.height[n, s][:, None] - cam[:, None, 2]) * ratio
    blocks = (cos_delta > cos_half) & (ratio < 1.0) & (sight_z < props[..., 3]) & b.prop_mask[n]
    out[n, s, f] = blocks.any(-1)
    return out


def prefilter(b: PrefilterBatch, context_frames: int, width: int, height: int, min_pixels: int,
              fill_factor: float = 0.5, occluders: bool = True, chunk: int = 32) -> tuple[np.ndarray, np.ndarray]:
    """(accept [N] bool, reason code [N] int8): 0 accepted, 1 never visible in context, 2 no exit, 3 no re-entry.

    Candidates are processed `chunk` at a time so the temporaries stay in the CPU cache.
    """
    vis = np.concatenate([predicted_visibility(b.slice(i, i + chunk), width, height, min_pixels, fill_factor,
                                               occluders) for i in range(0, len(b.c2w), chunk)])
    c = context_frames
    seen = vis[..., : c - 1].any(-1)
    hidden = ~vis[..., c - 1]
    back = vis[..., c:].any(-1)
    event = (seen & hidden & back).any(-1)
    reason = np.where(event, 0, np.where(~seen.any(-1), 1, np.where(~(seen & hidden).any(-1), 2, 3))).astype(np.int8)
    return event, reason


PREFILTER_REASONS = {1: "prefilter:not_visible_in_context", 2: "prefilter:no_exit", 3: "prefilter:no_reentry_in_target"}
