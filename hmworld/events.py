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
from hmworld.split.schema import EventsFile, ExitEntry, SubjectEvents

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


def min_visible_pixels(width: int, height: int, fraction: float, floor: int) -> int:
    return max(int(floor), int(round(fraction * width * height)))


@dataclass
class ClipEvents:
    """What the masks say about one rendered clip: its events.json record and why it is kept or not."""

    file: EventsFile
    reason: int = 0  # 0: kept; else a REASONS code

    @property
    def subjects(self) -> list[SubjectEvents]:
        return self.file.subjects

    @property
    def has_event(self) -> bool:
        return self.reason == 0 and any(s.events for s in self.subjects)


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
        ev = [ExitEntry(int(exit_[j]), int(entry[j]))] if reason[j] == 0 else []
        subjects.append(SubjectEvents(int(iid), visible_intervals(visible[:, j]), ev))
    file = EventsFile(context_frames, visible.shape[0] - context_frames, subjects,
                      min_visible_pixels=rules.min_visible_pixels, rules=rules.to_dict())
    return ClipEvents(file, int(clip_reason))


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
    # [N, P, 5] the footprint's oriented box (centre x, y, half-extents, angle) of props drawn as meshes
    # (props_style=asset), zero half-extents for circles; None: every prop is a circle
    prop_boxes: np.ndarray | None = None

    def take(self, index: np.ndarray, num_subjects: int) -> "PrefilterBatch":
        """Candidates `index`, keeping their first `num_subjects` subject slots."""
        k = num_subjects
        return PrefilterBatch(self.c2w[index], self.intrinsics[index], self.feet[index, :k], self.heading[index, :k],
                              self.height[index, :k], self.half_axes[index, :k], self.subject_mask[index, :k],
                              self.props[index], self.prop_mask[index],
                              None if self.prop_boxes is None else self.prop_boxes[index])

    def frames(self, frames: slice) -> "PrefilterBatch":
        """The same candidates over a range of their frames (views)."""
        return PrefilterBatch(self.c2w[:, frames], self.intrinsics, self.feet[:, :, frames],
                              self.heading[:, :, frames], self.height, self.half_axes, self.subject_mask, self.props,
                              self.prop_mask, self.prop_boxes)

    @classmethod
    def from_specs(cls, specs: list[ClipSpec], scenes: dict[str, SceneSpec],
                   subjects: dict[str, SubjectSpec], footprint=footprint_half_axes) -> "PrefilterBatch":
        """footprint: the body model's (hmworld.body.BodyModel.footprint_half_axes); primitive bodies by default."""
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
                b.height[i, j], b.half_axes[i, j], b.subject_mask[i, j] = sub.height, footprint(sub), True
            for j, p in enumerate(scenes[c.scene].props):
                b.props[i, j] = (p.position[0], p.position[1], p.footprint_radius, p.size[2])
                b.prop_mask[i, j] = True
                box = getattr(p, "box", None)  # a mesh prop's footprint (hmworld.assets.scenery.MeshProp)
                if box is not None:
                    if b.prop_boxes is None:
                        b.prop_boxes = np.zeros((n, p_max, 5), np.float32)
                    b.prop_boxes[i, j] = box
        return b


def predicted_visibility(b: PrefilterBatch, width: int, height: int, min_pixels: int, fill_factor: float = 0.5,
                         occluders: bool = True, near: float = 0.05) -> tuple[np.ndarray, np.ndarray]:
    """([N, S, F] predicted visible, [N, S, F] predicted visible box height / image height, 0 where hidden).

    Visible: approximate pixel area >= min_pixels and not behind a prop. The body's width is its footprint
    rectangle seen along the sight line (tracking.silhouette_half_width, in dot/cross-product form: no trig)."""
    visible, box_h, dist = _project(b, width, height, min_pixels, fill_factor, near)
    if occluders:
        visible &= ~_occluded(b, visible, dist)
    return visible, np.where(visible, box_h / height, 0.0)


def _project(b: PrefilterBatch, width: int, height: int, min_pixels: int, fill_factor: float, near: float):
    """Predicted visibility without occluders, visible box height in pixels and plan distance, [N, S, F] each."""
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
    u0, u1 = fx * x0 / z0s, fx * x1 / z1s  # relative to cx, cy: the clip bounds move instead
    v0, v1 = fy * y0 / z0s, fy * y1 / z1s
    # footprint half-width across the sight line from |cross|, |dot| of the sight and heading vectors
    dx, dy = rel[..., 0], rel[..., 1]
    dist = np.sqrt(dx * dx + dy * dy + 1e-12)
    ch, sh = b.heading[..., 0], b.heading[..., 1]
    along, across = b.half_axes[..., 0, None], b.half_axes[..., 1, None]
    half = along * np.abs(dx * sh - dy * ch) + across * np.abs(dx * ch + dy * sh)  # times dist
    half_w = fx * half / (dist * np.minimum(z0s, z1s))
    x_lo = np.maximum(np.minimum(u0, u1) - half_w, -cx)
    x_hi = np.minimum(np.maximum(u0, u1) + half_w, width - cx)
    y_lo = np.maximum(np.minimum(v0, v1), -cy)
    y_hi = np.minimum(np.maximum(v0, v1), height - cy)
    box_h = np.maximum(y_hi - y_lo, 0.0)
    visible = in_front & (np.maximum(x_hi - x_lo, 0.0) * box_h >= min_pixels / fill_factor) & b.subject_mask[:, :, None]
    return visible, box_h, dist


def _occluded(b: PrefilterBatch, candidates: np.ndarray, dist_s: np.ndarray) -> np.ndarray:
    """For the True entries of `candidates` [N, S, F]: does the sight line from the camera to the subject's
    centre pass through a tall-enough prop? dist_s: [N, S, F] plan distance camera -> subject. Returns
    [N, S, F] (False elsewhere).

    In plan, a prop (circle of radius r at distance d) hides the bearings within asin(r / d) of its own; it
    occludes when the subject's bearing falls inside, the prop is nearer than the subject, and the sight line
    is still below the prop's top where it passes it. Only (visible entry, nearer prop) pairs get the full
    test: with the camera walking close to its subject, few props are ever nearer than a subject.
    """
    out = np.zeros(candidates.shape, bool)
    cam = b.c2w[:, :, :3, 3]  # [N, F, 3]
    wx = b.props[:, None, :, 0] - cam[:, :, None, 0]  # [N, F, P] camera -> prop, once per camera pose
    wy = b.props[:, None, :, 1] - cam[:, :, None, 1]
    dist_p = np.where(b.prop_mask[:, None, :], np.hypot(wx, wy), np.inf)  # padding props are never nearer
    boxed = None if b.prop_boxes is None else b.prop_boxes[..., 2] > 0  # [N, P] mesh props' footprint boxes
    near_p = dist_p
    if boxed is not None:  # a box's near side can be nearer than its centre: its bounding circle's near edge
        near_p = np.where(boxed[:, None, :], dist_p - b.props[:, None, :, 2], dist_p)
    reach = np.where(candidates, dist_s, 0.0)  # hidden entries reach nothing
    # (candidate, subject, prop) triples where the prop is ever nearer than the subject ever reaches ...
    kn, ks, kp = np.nonzero(near_p.min(1)[:, None, :] < reach.max(-1)[..., None])
    # ... and their frames where it is
    k, f = np.nonzero(near_p[kn, :, kp] < reach[kn, ks, :])
    if len(k) == 0:
        return out
    n, s, p = kn[k], ks[k], kp[k]
    dp = dist_p[n, f, p] + 1e-6
    ds = dist_s[n, s, f] + 1e-6
    prop = b.props[n, p]  # [Q, 4]
    cos_half = np.sqrt(np.clip(1.0 - (prop[:, 2] / dp) ** 2, 0.0, 1.0))  # cos(asin(r / d))
    c = cam[n, f]
    dx, dy = b.feet[n, s, f, 0] - c[:, 0], b.feet[n, s, f, 1] - c[:, 1]
    cos_delta = (wx[n, f, p] * dx + wy[n, f, p] * dy) / (dp * ds)
    sight_z = c[:, 2] + (0.5 * b.height[n, s] - c[:, 2]) * (dp / ds)
    blocks = (cos_delta > cos_half) & (sight_z < prop[:, 3])
    if boxed is not None:
        q = np.flatnonzero(boxed[n, p])
        if len(q):
            blocks[q] = _segment_hits_box(c[q], b.feet[n[q], s[q], f[q], :2], 0.5 * b.height[n[q], s[q]],
                                          b.prop_boxes[n[q], p[q]], prop[q, 3])
    out[n[blocks], s[blocks], f[blocks]] = True
    return out


def _segment_hits_box(cam: np.ndarray, feet: np.ndarray, target_z: np.ndarray, boxes: np.ndarray,
                      top: np.ndarray) -> np.ndarray:
    """[Q] does the sight line from the camera [Q, 3] to the point target_z above the feet [Q, 2] pass through
    the prop's footprint box [Q, 5] (centre x, y, half-extents, angle) below its top [Q]? In the box's frame,
    the segment's parameter range inside both slabs (Liang-Barsky); the sight line is straight, so it is lowest
    inside the box at one end of that range."""
    c, s = np.cos(boxes[:, 4]), np.sin(boxes[:, 4])

    def local(xy):
        rx, ry = xy[:, 0] - boxes[:, 0], xy[:, 1] - boxes[:, 1]
        return np.stack([rx * c + ry * s, -rx * s + ry * c], axis=1)

    p0, p1 = local(cam[:, :2]), local(feet)
    d = p1 - p0
    t_in, t_out = np.zeros(len(boxes)), np.ones(len(boxes))
    with np.errstate(divide="ignore", invalid="ignore"):
        for axis in range(2):
            half = boxes[:, 2 + axis]
            ta, tb = (-half - p0[:, axis]) / d[:, axis], (half - p0[:, axis]) / d[:, axis]
            lo, hi = np.minimum(ta, tb), np.maximum(ta, tb)
            parallel = np.abs(d[:, axis]) < 1e-12  # a segment parallel to the slab: inside it or never
            inside = np.abs(p0[:, axis]) <= half
            lo = np.where(parallel, np.where(inside, -np.inf, np.inf), lo)
            hi = np.where(parallel, np.where(inside, np.inf, -np.inf), hi)
            t_in, t_out = np.maximum(t_in, lo), np.minimum(t_out, hi)
    crosses = t_in <= t_out
    z = lambda t: cam[:, 2] + (target_z - cam[:, 2]) * t  # noqa: E731
    return crosses & (np.minimum(z(t_in), z(t_out)) < top)


def deciding_frames(num_frames: int, context_frames: int, rules: EventRules) -> np.ndarray:
    """The frames whose visibility can change whether a clip is kept: the first `visible_at_start`, and a window
    around the end of the context. An event's hidden run holds frame c-1 and lasts at most hidden_gap[1]
    frames, so exit >= c - gap_max and entry <= c - 1 + gap_max; its size windows add size_window frames on
    each side. A visible frame outside cannot make an event (its gap would be too long); the pre-filter skips
    those frames, keeping exactly the same accept/reject decisions (reasons may name an earlier rule)."""
    c, gap, w = context_frames, rules.hidden_gap[1], rules.size_window
    window = np.arange(max(0, c - gap - w), min(num_frames, c - 1 + gap + w))
    return np.union1d(np.arange(min(rules.visible_at_start, num_frames)), window)


def prefilter(b: PrefilterBatch, context_frames: int, width: int, height: int, rules: EventRules,
              fill_factor: float = 0.5, occluders: bool = True, chunk: int = 32) -> tuple[np.ndarray, np.ndarray]:
    """(accept [N] bool, reason [N] int8: 0 accepted, else a REASONS code) under the event rules.

    Only the deciding frames are evaluated (as contiguous runs: views, not copies). Candidates are processed
    `chunk` at a time, grouped by subject count so a chunk carries no padding subjects, which keeps the
    temporaries small and in the CPU cache. (Two worker threads over chunks measured 0.75x of one thread on
    an idle 2-core machine: the arrays are too small for NumPy's released GIL to pay.)
    """
    num_n, num_f = b.c2w.shape[:2]
    frames = deciding_frames(num_f, context_frames, rules)
    runs = [slice(int(r[0]), int(r[-1]) + 1) for r in np.split(frames, np.flatnonzero(np.diff(frames) > 1) + 1)]
    order = np.argsort(b.subject_mask.sum(1), kind="stable")
    chunks = [order[i: i + chunk] for i in range(0, num_n, chunk)]

    def run(idx: np.ndarray) -> np.ndarray:
        part = b.take(idx, int(b.subject_mask[idx].sum(1).max()))
        vis = np.zeros(part.subject_mask.shape + (num_f,), bool)
        box_h = np.zeros(vis.shape, np.float32)
        for sl in runs:
            vis[..., sl], box_h[..., sl] = predicted_visibility(part.frames(sl), width, height,
                                                                rules.min_visible_pixels, fill_factor, occluders)
        return find_events(vis, box_h, context_frames, rules, part.subject_mask)[3]

    reason = np.empty(num_n, np.int8)
    for idx in chunks:
        reason[idx] = run(idx)
    return reason == 0, reason
