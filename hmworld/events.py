"""Exit/entry events: the definition, the truth from rendered instance masks, and a geometric pre-filter.

Definition (ARCHITECTURE.md): a subject is visible in a frame when at least `min_visible_pixels` of its
pixels show in the instance mask. An exit-entry event has the subject visible at some frame before
`exit_frame`, hidden on [exit_frame, entry_frame), visible at `entry_frame`, and
exit_frame < context_frames <= entry_frame. The hidden run must therefore contain frame context_frames-1,
so a subject has at most one event per clip.

The rules (`EventRules`, events.* in render.yaml) make the events those of HM-World: every subject of a clip is
visible in its first frames (a clip is never about a subject nobody saw), the subject is large enough just
before it leaves and just after it comes back, and the hidden gap lies within bounds. An exit-entry that
breaks a rule is not an event; a clip is kept when it has at least one event and every subject was seen.

The pre-filter predicts the same thing from geometry alone (no pixels): each subject is an upright box (its
footprint over a walk cycle, seen along the sight line) projected into every frame, props are circles in
plan that block the line of sight when tall enough. It applies the same rules to the predicted visibility and
box heights. It only saves rendering time; the masks decide which clips are kept.
"""
from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np

from hmworld.body import footprint_half_axes
from hmworld.catalog import SceneSpec, SubjectSpec
from hmworld.clipspec import ClipSpec

EVENTS_VERSION = 2

# Why a candidate has no event; shared by the pre-filter ("prefilter:<reason>") and the masks ("masks:<reason>").
# Per subject the codes grow with how far it got, so a clip reports its most promising subject's reason.
REASONS = {1: "not_visible_at_start", 2: "no_exit", 3: "no_reentry_in_target", 4: "hidden_gap_out_of_bounds",
           5: "too_small_at_exit_or_entry"}


@dataclass(frozen=True)
class EventRules:
    """What counts as an event (render.yaml `events:`); recorded in every events.json."""

    min_visible_pixels: int
    visible_at_start: int  # every subject is visible in each of the first N frames (0: no requirement)
    min_event_height: float  # fraction of the frame height the visible box must reach ...
    size_window: int  # ... within this many frames before the exit and from the entry on
    hidden_gap: tuple[int, int]  # frames hidden, entry_frame - exit_frame

    def to_dict(self) -> dict:
        d = asdict(self)
        d["hidden_gap"] = list(self.hidden_gap)
        return d


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

    rules: EventRules | None  # None for imported clips (no masks)
    context_frames: int
    target_frames: int
    subjects: list[dict]  # {"instance_id", "visible_intervals", "events": [{"exit_frame", "entry_frame"}]}
    reason: int = 0  # 0: kept; else a REASONS code

    @property
    def has_event(self) -> bool:
        return self.reason == 0 and any(s["events"] for s in self.subjects)

    def to_dict(self) -> dict:
        return {"version": EVENTS_VERSION,
                "min_visible_pixels": self.rules.min_visible_pixels if self.rules else None,
                "rules": self.rules.to_dict() if self.rules else None,
                "context_frames": self.context_frames, "target_frames": self.target_frames,
                "subjects": self.subjects}


def find_events(visible: np.ndarray, height: np.ndarray, context_frames: int, rules: EventRules,
                present: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """The rules, vectorised over leading axes. visible: [..., S, F] bool; height: [..., S, F] visible box height
    as a fraction of the frame height (0 where hidden); present: [..., S] bool marks real subjects (padding
    is ignored). Returns (exit [..., S], entry [..., S], subject reason [..., S], clip reason [...]): reason 0
    is an event, else a REASONS code; exit/entry are meaningful where the reason is 0."""
    c, f = context_frames, visible.shape[-1]
    present = np.ones(visible.shape[:-1], bool) if present is None else present
    before, after = visible[..., : c - 1], visible[..., c:]
    seen, back = before.any(-1), after.any(-1)
    exit_ = (c - 1) - np.argmax(before[..., ::-1], axis=-1)  # first hidden frame of the run holding c-1
    entry = c + np.argmax(after, axis=-1)
    gap = entry - exit_
    frames = np.arange(f)
    w = rules.size_window
    near_exit = (frames >= (exit_ - w)[..., None]) & (frames < exit_[..., None])
    near_entry = (frames >= entry[..., None]) & (frames < (entry + w)[..., None])
    big_exit = (np.where(near_exit, height, 0.0).max(-1) >= rules.min_event_height)
    big_entry = (np.where(near_entry, height, 0.0).max(-1) >= rules.min_event_height)
    hidden = ~visible[..., c - 1]
    reason = np.where(~(seen & hidden), 2, np.where(~back, 3, np.where(
        (gap < rules.hidden_gap[0]) | (gap > rules.hidden_gap[1]), 4, np.where(~(big_exit & big_entry), 5, 0))))
    reason = np.where(present, reason, 9).astype(np.int8)  # padding never qualifies nor reports
    k = min(rules.visible_at_start, c)
    started = visible[..., :k].all(-1) | ~present if k > 0 else np.ones(present.shape, bool)
    has = (reason == 0).any(-1)
    best_fail = np.where(reason == 9, 0, reason).max(-1)
    clip_reason = np.where(~started.all(-1), 1, np.where(has, 0, best_fail)).astype(np.int8)
    return exit_, entry, reason, clip_reason


def events_from_visibility(visible: np.ndarray, height: np.ndarray, instance_ids: list[int], context_frames: int,
                           rules: EventRules) -> ClipEvents:
    """visible, height: [frames, subjects], columns in the order of instance_ids (height as in find_events)."""
    exit_, entry, reason, clip_reason = find_events(visible.T, height.T, context_frames, rules)
    subjects = []
    for j, iid in enumerate(instance_ids):
        ev = [{"exit_frame": int(exit_[j]), "entry_frame": int(entry[j])}] if reason[j] == 0 else []
        subjects.append({"instance_id": int(iid), "visible_intervals": visible_intervals(visible[:, j]), "events": ev})
    return ClipEvents(rules, context_frames, visible.shape[0] - context_frames, subjects, int(clip_reason))


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
    heading: np.ndarray  # [N, S, F, 2] cos, sin of the body's heading
    height: np.ndarray  # [N, S]
    half_axes: np.ndarray  # [N, S, 2] footprint half-extents: along the heading, across
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
                np.zeros((n, s_max, f, 2), np.float32), np.zeros((n, s_max), np.float32),
                np.zeros((n, s_max, 2), np.float32), np.zeros((n, s_max), bool),
                np.zeros((n, p_max, 4), np.float32), np.zeros((n, p_max), bool))
        for i, c in enumerate(specs):
            b.c2w[i] = c.camera_c2w
            k = c.intrinsics
            b.intrinsics[i] = (k.fx, k.fy, k.cx, k.cy)
            for j, t in enumerate(c.subjects):
                sub = subjects[t.name]
                b.feet[i, j] = t.positions
                b.heading[i, j, :, 0], b.heading[i, j, :, 1] = np.cos(t.headings), np.sin(t.headings)
                b.height[i, j], b.half_axes[i, j], b.subject_mask[i, j] = sub.height, footprint_half_axes(sub), True
            for j, p in enumerate(scenes[c.scene].props):
                b.props[i, j] = (p.position[0], p.position[1], p.footprint_radius, p.size[2])
                b.prop_mask[i, j] = True
        return b


def predicted_visibility(b: PrefilterBatch, width: int, height: int, min_pixels: int, fill_factor: float = 0.5,
                         occluders: bool = True, near: float = 0.05) -> tuple[np.ndarray, np.ndarray]:
    """([N, S, F] predicted visible, [N, S, F] predicted visible box height / image height, 0 where hidden).

    Visible: approximate pixel area >= min_pixels and not behind a prop. The body's width is its footprint
    rectangle seen along the sight line (tracking.silhouette_half_width, in dot/cross-product form: no trig)."""
    cam = b.c2w[:, None, :, :3, :]  # [N, 1, F, 3, 4]
    rel = b.feet - cam[..., 3]  # [N, S, F, 3]
    # camera coordinates as dot products with the camera's axes (columns of the rotation)
    x0 = rel[..., 0] * cam[..., 0, 0] + rel[..., 1] * cam[..., 1, 0] + rel[..., 2] * cam[..., 2, 0]
    y0 = rel[..., 0] * cam[..., 0, 1] + rel[..., 1] * cam[..., 1, 1] + rel[..., 2] * cam[..., 2, 1]
    z0 = rel[..., 0] * cam[..., 0, 2] + rel[..., 1] * cam[..., 1, 2] + rel[..., 2] * cam[..., 2, 2]
    h = b.height[:, :, None]
    x1, y1, z1 = x0 + h * cam[..., 2, 0], y0 + h * cam[..., 2, 1], z0 + h * cam[..., 2, 2]  # the head point
    fx, fy, cx, cy = (b.intrinsics[:, i, None, None] for i in range(4))
    in_front = (z0 > near) & (z1 > near)
    z0s, z1s = np.maximum(z0, near), np.maximum(z1, near)
    u0, u1 = fx * x0 / z0s + cx, fx * x1 / z1s + cx
    v0, v1 = fy * y0 / z0s + cy, fy * y1 / z1s + cy
    # footprint half-width across the sight line from |cross|, |dot| of the unit sight and heading vectors
    dx, dy = rel[..., 0], rel[..., 1]
    inv = 1.0 / np.sqrt(dx * dx + dy * dy + 1e-12)
    ch, sh = b.heading[..., 0], b.heading[..., 1]
    cos_a, sin_a = (dx * ch + dy * sh) * inv, (dx * sh - dy * ch) * inv
    along, across = b.half_axes[..., 0, None], b.half_axes[..., 1, None]
    half = along * np.abs(sin_a) + across * np.abs(cos_a)
    half_w = fx * half / np.minimum(z0s, z1s)
    x_lo = np.clip(np.minimum(u0, u1) - half_w, 0, width)
    x_hi = np.clip(np.maximum(u0, u1) + half_w, 0, width)
    y_lo = np.clip(np.minimum(v0, v1), 0, height)
    y_hi = np.clip(np.maximum(v0, v1), 0, height)
    area = (x_hi - x_lo) * (y_hi - y_lo) * fill_factor
    visible = in_front & (area >= min_pixels) & b.subject_mask[:, :, None]
    if occluders:
        visible &= ~_occluded(b, visible)
    return visible, np.where(visible, (y_hi - y_lo) / height, 0.0)


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


def prefilter(b: PrefilterBatch, context_frames: int, width: int, height: int, rules: EventRules,
              fill_factor: float = 0.5, occluders: bool = True, chunk: int = 32) -> tuple[np.ndarray, np.ndarray]:
    """(accept [N] bool, reason [N] int8: 0 accepted, else a REASONS code) under the event rules.

    Candidates are processed `chunk` at a time so the temporaries stay in the CPU cache.
    """
    reasons = []
    for i in range(0, len(b.c2w), chunk):
        part = b.slice(i, i + chunk)
        vis, box_h = predicted_visibility(part, width, height, rules.min_visible_pixels, fill_factor, occluders)
        reasons.append(find_events(vis, box_h, context_frames, rules, part.subject_mask)[3])
    reason = np.concatenate(reasons)
    return reason == 0, reason
