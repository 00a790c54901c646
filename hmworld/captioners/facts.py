"""What a caption may say about a clip, computed from its geometry and its rendered visibility.

Everything here is derived from the per-frame poses (camera-to-world, subject ground positions and headings)
and from the subjects' visible intervals, never from the catalog's trajectory names: a name says what the
compositor asked for, the poses say what the camera shows, and only the poses work for any camera path
(free pans and orbits, tracking shots, imported clips).

* **Visibility** (`Visibility`): the subjects seen at all, in which halves, leaving the view and coming back.
  The instance masks (events.json's `visible_intervals`) are the truth; a subject never seen is left out of
  the request, so no captioner can name it.
* **Subject motion** (`MotionPhase`): per frame where the subject is visible, its ground velocity relative
  to the line from it to the camera: walking towards the camera, away from it, to the camera's left or right
  (crossing the view when its bearing sweeps across the frame), or standing; and whether the camera moves
  with it (same direction, similar speed): leading it, following it from behind, or alongside.
* **Camera motion** (`CameraPhase`): translation in the camera's own horizontal frame (forward, backward,
  sideways), height change, pan (yaw about world up), tilt and roll rates; each split into phases, with the
  subjects that leave or come into view during each phase.

Per-frame labels are smoothed and runs shorter than a fraction of a second are merged into their neighbours,
so the facts describe what a viewer notices, not frame-to-frame jitter. `caption_request` (render time) and
`hmworld caption` (clips on disk) both end in `build_request`, so the two give identical requests.
"""
from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Sequence

import numpy as np

from hmworld.captioners import phrases
from hmworld.captioners.base import CameraPhase, CaptionRequest, MotionPhase, SubjectMotion, Visibility
from hmworld.errors import ConfigError
from hmworld.split.schema import SubjectEvents, Where

# Thresholds. People walk at 1.0-1.5 m/s and the catalog's slowest animals at ~0.4 m/s; handheld drift and the
# smoothing's leakage stay well below 0.25 m/s, so that separates moving from standing for both.
MOVING_SPEED = 0.25  # m/s
# A pan or tilt slower than this shifts the view by under a tenth of a 60-degree field per second: a viewer
# reads it as a steady shot, and tracking shots make such small corrections all the time.
TURN_RATE = 6.0  # degrees per second
MIN_TURN_DEG = 10.0  # a pan/tilt/roll phase that turns less than this in total is not worth a clause
MIN_MOVE_M = 0.4  # a translation phase covering less than this is not worth a clause
MIN_RISE_M = 0.3
SMOOTH_S = 0.4  # moving-average window for velocities and rates (seconds)
MIN_CAMERA_PHASE_S = 0.4  # shorter camera phases merge into a neighbour
MIN_SUBJECT_PHASE_S = 0.6  # shorter subject phases merge into a neighbour (a step aside is not a turn)
MAX_SUBJECT_PHASES = 3  # captions stay readable: the longest stretches are kept
MAX_CAMERA_PHASES = 5
# Relative motion: walking within ~50 degrees of the line to the camera is "towards"/"away"; else sideways.
TOWARDS_COS = 0.64
# The camera moves "with" a subject when its velocity points the same way (within ~45 degrees) at a similar
# speed (within a factor 2); at least half of a phase's frames must agree.
WITH_COS, WITH_RATIO, WITH_SHARE = 0.7, 2.0, 0.5
CROSS_FRACTION = 0.3  # sideways motion "crosses the view" when its bearing sweeps this share of the field of view
DEFAULT_HFOV_DEG = 60.0  # only for clips whose intrinsics are unknown

# People's pronouns from their catalog description's head noun; anyone else ("a jogger", "a chef") is "they".
_HE = {"man", "boy", "gentleman", "father", "grandfather", "husband", "king", "guy", "lad", "he", "him"}
_SHE = {"woman", "girl", "lady", "mother", "grandmother", "wife", "queen", "she", "her"}


def pronoun_for(description: str, kind: str) -> str:
    """"it" for animals, "he"/"she" for people the description names as such, "they" otherwise."""
    if kind == "animal":
        return "it"
    words = re.findall(r"[a-z]+", description.lower())
    head = words[: next((i for i, w in enumerate(words) if w in ("in", "with", "dressed", "wearing")), len(words))]
    if any(w in _HE for w in head):
        return "he"
    if any(w in _SHE for w in head):
        return "she"
    return "they"


@dataclass(frozen=True)
class SubjectInfo:
    """What a caption knows about a subject apart from its geometry (from the catalog or the clip's files)."""

    instance_id: int
    description: str
    gait: str
    kind: str  # "human" | "animal" | ""


@dataclass
class ClipGeometry:
    """The poses facts are computed from. Any part may be missing (imported clips): facts that need it are
    then left out rather than guessed."""

    num_frames: int
    context_frames: int
    fps: float
    camera_c2w: np.ndarray | None = None  # [F, 4, 4] OpenCV camera-to-world, metres, world Z up
    hfov_deg: float | None = None
    positions: dict[int, np.ndarray] = field(default_factory=dict)  # instance id -> [F, 3] ground point
    headings: dict[int, np.ndarray] = field(default_factory=dict)  # instance id -> [F] radians about +Z


# ------------------------------------------------------------------------------------------- visibility
def visibility_from_events(entry: SubjectEvents | None, num_frames: int, context_frames: int, fps: float
                           ) -> Visibility:
    """One subject's Visibility from its events.json entry; an entry that is missing or has null intervals
    (imported clips) gives unknown intervals."""
    intervals = None
    if entry is not None and entry.visible_intervals is not None:
        intervals = tuple((int(a), int(b)) for a, b in entry.visible_intervals)
        for a, b in intervals:
            if not 0 <= a < b <= num_frames:
                raise ConfigError(f"visible interval [{a}, {b}) of subject {entry.instance_id} lies outside "
                                  f"the clip's {num_frames} frames")
    events = tuple((e.exit_frame, e.entry_frame) for e in entry.events) if entry is not None else ()
    return Visibility(num_frames, context_frames, float(fps), intervals, events)


def _events_by_id(events_subjects: Sequence[SubjectEvents | dict], num_frames: int) -> dict[int, SubjectEvents]:
    """Records as they are; events.json dicts checked against the schema."""
    w = Where("events.json")
    out = {}
    for i, e in enumerate(events_subjects):
        rec = e if isinstance(e, SubjectEvents) else SubjectEvents.from_json(e, w, i, num_frames)
        out[rec.instance_id] = rec
    return out


def visible_mask(vis: Visibility, fallback: np.ndarray | None = None) -> np.ndarray:
    """[F] bool: the frames where the subject is visible; `fallback` (e.g. in the field of view) when the
    intervals are unknown, all frames when that is unknown too."""
    if vis.intervals is None:
        return np.ones(vis.num_frames, bool) if fallback is None else np.asarray(fallback, bool)
    mask = np.zeros(vis.num_frames, bool)
    for a, b in vis.intervals:
        mask[a:b] = True
    return mask


# ------------------------------------------------------------------------------------------- helpers
def _smooth(x: np.ndarray, fps: float) -> np.ndarray:
    """Centred moving average over SMOOTH_S along axis 0, edges padded with the end values."""
    w = max(1, int(round(SMOOTH_S * fps)) | 1)
    if w == 1 or len(x) < 2:
        return x
    pad = [(w // 2, w // 2)] + [(0, 0)] * (x.ndim - 1)
    xp = np.pad(x, pad, mode="edge")
    c = np.cumsum(np.concatenate([np.zeros((1,) + x.shape[1:]), xp]), axis=0)
    return (c[w:] - c[:-w]) / w


def _rate(x: np.ndarray, fps: float) -> np.ndarray:
    """Per-second derivative along axis 0, smoothed."""
    if len(x) < 2:
        return np.zeros_like(x, dtype=float)
    return _smooth(np.gradient(np.asarray(x, float), axis=0) * fps, fps)


def _runs(labels: Sequence) -> list[list]:
    """[[label, start, end), ...] runs of equal consecutive labels."""
    out: list[list] = []
    for i, lab in enumerate(labels):
        if out and out[-1][0] == lab:
            out[-1][2] = i + 1
        else:
            out.append([lab, i, i + 1])
    return out


def _coalesce(runs: list[list]) -> list[list]:
    out: list[list] = []
    for r in runs:
        if out and out[-1][0] == r[0]:
            out[-1][2] = r[2]
        else:
            out.append(list(r))
    return out


def _absorb(runs: list[list], min_len: int, max_runs: int | None = None) -> list[list]:
    """Merge the shortest run into its longer neighbour until every run has at least `min_len` frames (and
    there are at most `max_runs`). Shortest first, so a brief wobble never outweighs a long stretch."""
    runs = _coalesce(runs)
    while len(runs) > 1:
        lengths = [r[2] - r[1] for r in runs]
        k = int(np.argmin(lengths))
        if lengths[k] >= min_len and (max_runs is None or len(runs) <= max_runs):
            break
        left = runs[k - 1] if k > 0 else None
        right = runs[k + 1] if k + 1 < len(runs) else None
        into = left if right is None or (left is not None and left[2] - left[1] >= right[2] - right[1]) else right
        if into is left:
            left[2] = runs[k][2]
        else:
            right[1] = runs[k][1]
        del runs[k]
        runs = _coalesce(runs)
    return runs


def _clean_track(labels: list[str], amount: np.ndarray, min_amount: float, min_len: int) -> list[str]:
    """One motion track's per-frame labels: short runs merged into neighbours, then runs whose total
    `amount` (metres or degrees covered) is below `min_amount` dropped to ""."""
    runs = _absorb(_runs(labels), min_len)
    out = list(labels)
    for lab, a, b in runs:
        keep = lab and abs(float(np.sum(amount[a:b]))) >= min_amount
        out[a:b] = [lab if keep else ""] * (b - a)
    return out


def _horizontal(v: np.ndarray) -> np.ndarray:
    """Unit vectors of the XY part of [..., 3] vectors (zero where the XY part vanishes)."""
    xy = np.asarray(v, float)[..., :2]
    n = np.linalg.norm(xy, axis=-1, keepdims=True)
    return np.where(n > 1e-9, xy / np.maximum(n, 1e-12), 0.0)


# ------------------------------------------------------------------------------------------- camera
def camera_phases(c2w: np.ndarray, fps: float, visibility: dict[int, Visibility] | None = None
                  ) -> tuple[CameraPhase, ...]:
    """The camera's own motion in phases, from its poses. `visibility` (instance id -> Visibility) attributes
    subjects leaving or entering the view to the phase in which it happens (only when the camera moves then:
    a subject walking out of a still shot left by itself)."""
    c2w = np.asarray(c2w, float)
    n = len(c2w)
    if n < 2:
        return (CameraPhase(0, n),)
    pos = c2w[:, :3, 3]
    fwd_h = _horizontal(c2w[:, :3, 2])  # where the camera looks, flattened
    right_h = np.stack([fwd_h[:, 1], -fwd_h[:, 0]], -1)  # fwd x up, flattened: the camera's right on the ground
    vel = _rate(pos, fps)  # [F, 3] m/s
    horiz = np.linalg.norm(vel[:, :2], axis=1)  # speed over the ground
    v_up = vel[:, 2]
    yaw = np.degrees(np.unwrap(np.arctan2(c2w[:, 1, 2], c2w[:, 0, 2])))
    pitch = np.degrees(np.arcsin(np.clip(c2w[:, 2, 2], -1, 1)))
    roll = np.degrees(np.arcsin(np.clip(c2w[:, 2, 0], -1, 1)))  # right axis tipping up = top tips left
    yaw_rate, pitch_rate, roll_rate = _rate(yaw, fps), _rate(pitch, fps), _rate(roll, fps)
    dt = 1.0 / fps
    min_len = max(1, int(round(MIN_CAMERA_PHASE_S * fps)))

    pan = _clean_track(["" if abs(w) < TURN_RATE else ("left" if w > 0 else "right") for w in yaw_rate],
                       yaw_rate * dt, MIN_TURN_DEG, min_len)
    move = _clean_track(_move_labels(vel[:, :2], fwd_h, right_h, np.array([bool(p) for p in pan]), fps),
                        horiz * dt, MIN_MOVE_M, min_len)
    rise = _clean_track(["" if abs(u) < MOVING_SPEED else ("up" if u > 0 else "down") for u in v_up],
                        v_up * dt, MIN_RISE_M, min_len)
    tilt = _clean_track(["" if abs(w) < TURN_RATE else ("up" if w > 0 else "down") for w in pitch_rate],
                        pitch_rate * dt, MIN_TURN_DEG, min_len)
    rl = _clean_track(["" if abs(w) < TURN_RATE else ("left" if w > 0 else "right") for w in roll_rate],
                      roll_rate * dt, MIN_TURN_DEG, min_len)

    runs = _absorb(_runs(list(zip(move, rise, pan, tilt, rl))), min_len, MAX_CAMERA_PHASES)
    travel = np.degrees(np.unwrap(np.arctan2(vel[:, 1], vel[:, 0])))  # direction of travel over the ground
    exits, entries = _transitions(visibility or {}, n)
    # A pan is measured over its whole run in the pan track (how far, how fast, whether it undoes the pan
    # before it), even when a change in another track (the camera stopping) splits it between two phases.
    pan_runs = [r for r in _runs(pan) if r[0]]
    pan_facts = {}  # run start -> (degrees, peak rate, back)
    for k, (lab, a, b) in enumerate(pan_runs):
        deg = abs(float(yaw[b - 1] - yaw[a]))
        prev = pan_facts.get(pan_runs[k - 1][1]) if k > 0 else None
        back = bool(prev is not None and pan_runs[k - 1][0] != lab and 0.6 <= deg / max(prev[0], 1e-6) <= 1.6)
        pan_facts[a] = (deg, float(np.max(np.abs(yaw_rate[a:b]))), back)
    phases: list[CameraPhase] = []
    for (mv, up, pn, tl, ro), a, b in runs:
        deg, rate, back = 0.0, 0.0, False
        if pn:  # the pan-track run it overlaps most (absorbing short phases can shift the edges)
            overlap = [(min(b, r[2]) - max(a, r[1]), r[1]) for r in pan_runs if r[0] == pn]
            best = max(overlap, default=(0, None))
            if best[0] > 0:
                deg, rate, back = pan_facts[best[1]]
            else:
                deg, rate = abs(float(yaw[b - 1] - yaw[a])), float(np.max(np.abs(yaw_rate[a:b])))
        moving = bool(mv or up or pn or tl or ro)
        lost = [(i, f) for i, f in exits if moving and a <= f < b]
        found = [(i, f) for i, f in entries if moving and a <= f < b]
        # Hidden and back within one phase is a flicker out of view, not worth a clause.
        flicker = {i for i, f in lost if any(j == i and g > f for j, g in found)}
        phases.append(CameraPhase(
            a, b, move=mv, speed=float(np.mean(horiz[a:b])) if mv else 0.0, rise=up, pan=pn, pan_deg=deg,
            pan_rate=rate, tilt=tl, roll=ro, orbit=_orbits(mv, pn, travel[a:b], yaw[a:b]), back=back,
            lost=tuple(dict.fromkeys(i for i, _ in lost if i not in flicker)),
            found=tuple(dict.fromkeys(i for i, _ in found if i not in flicker))))
    return tuple(phases)


def _orbits(move: str, pan: str, travel: np.ndarray, yaw: np.ndarray) -> bool:
    """A sideways move while panning the other way circles a point in front of the camera when its direction of
    travel turns with the view (an orbit keeps its velocity tangent to the circle). A camera that keeps walking
    one way while it pans away (a tracking shot turning from its subject) travels straight: not an orbit."""
    if move not in ("left", "right") or not pan or pan == move or len(yaw) < 2:
        return False
    turned, view = float(travel[-1] - travel[0]), float(yaw[-1] - yaw[0])
    return abs(view) >= MIN_TURN_DEG and turned * view > 0 and 0.5 <= turned / view <= 2.0


def _move_labels(vel: np.ndarray, fwd_h: np.ndarray, right_h: np.ndarray, panning: np.ndarray,
                 fps: float) -> list[str]:
    """Per frame "forward" | "backward" | "left" | "right" | "" (not moving) for horizontal velocities [F, 2].

    Each straight-line move (velocity direction within 45 degrees of where the move began; orbits re-anchor as
    they go) is judged against one view direction: the camera's at the non-panning frame nearest the move's
    start (within the move, or just before it; `panning` [F] bool marks the pan phases, whose turnaround
    frames do not count as steady). A camera backing away that pans 80 degrees right, or starts
    backing away again while still panning back, keeps "moving backwards" (a viewer sees one move and a pan);
    against each frame's own axes the same motion would turn into "moving left" halfway through."""
    speed = np.linalg.norm(vel, axis=1)
    moving = speed >= MOVING_SPEED
    runs, f, n = [], 0, len(vel)
    while f < n:
        if not moving[f]:
            f += 1
            continue
        a, u0 = f, vel[f] / speed[f]
        while f < n and moving[f] and float(vel[f] @ u0) / speed[f] >= np.cos(np.radians(45)):
            f += 1
        runs.append((a, f))
    labels = [""] * n
    steady = ~np.asarray(panning, bool)
    for a, b in runs:
        lo = max(0, a - int(round(0.5 * fps)))
        candidates = [g for g in range(lo, b) if steady[g]]
        ref = min(candidates, key=lambda g: abs(g - a)) if candidates else a
        for g in range(a, b):
            x, y = float(vel[g] @ fwd_h[ref]), float(vel[g] @ right_h[ref])
            labels[g] = ("forward" if x > 0 else "backward") if abs(x) >= abs(y) else ("right" if y > 0 else "left")
    return labels


def _transitions(visibility: dict[int, Visibility], n: int) -> tuple[list, list]:
    """(instance id, frame) of every exit (first hidden frame) and entry (first visible frame after hidden)."""
    exits, entries = [], []
    for iid, vis in sorted(visibility.items()):
        if vis.intervals is None:
            exits += [(iid, ex) for ex, _ in vis.events]
            entries += [(iid, en) for _, en in vis.events]
            continue
        for a, b in vis.intervals:
            if a > 0:
                entries.append((iid, a))
            if b < n:
                exits.append((iid, b))
    return exits, entries


# ------------------------------------------------------------------------------------------- subjects
def subject_phases(positions: np.ndarray, headings: np.ndarray | None, c2w: np.ndarray, fps: float,
                   visible: np.ndarray, hfov_deg: float | None = None) -> tuple[MotionPhase, ...]:
    """The subject's motion relative to the camera over the frames where it is `visible` ([F] bool)."""
    positions, c2w, visible = np.asarray(positions, float), np.asarray(c2w, float), np.asarray(visible, bool)
    frames = np.flatnonzero(visible)
    if len(frames) == 0:
        return ()
    vel = _rate(positions, fps)[:, :2]
    speed = np.linalg.norm(vel, axis=1)
    cam = c2w[:, :3, 3]
    cam_vel = _rate(cam, fps)[:, :2]
    cam_speed = np.linalg.norm(cam_vel, axis=1)
    fwd_h = _horizontal(c2w[:, :3, 2])
    right_h = np.stack([fwd_h[:, 1], -fwd_h[:, 0]], -1)
    to_cam = _horizontal(np.concatenate([cam[:, :2] - positions[:, :2], np.zeros((len(cam), 1))], 1))
    v_hat = vel / np.maximum(speed, 1e-9)[:, None]
    toward = np.einsum("fi,fi->f", v_hat, to_cam)
    side = np.einsum("fi,fi->f", v_hat, right_h)
    labels = np.where(speed < MOVING_SPEED, "still",
                      np.where(toward > TOWARDS_COS, "towards",
                               np.where(toward < -TOWARDS_COS, "away", np.where(side > 0, "right", "left"))))
    cosv = np.einsum("fi,fi->f", vel, cam_vel) / np.maximum(speed * cam_speed, 1e-9)
    ratio = cam_speed / np.maximum(speed, 1e-9)
    together = (speed >= MOVING_SPEED) & (cam_speed >= MOVING_SPEED) & (cosv > WITH_COS) & \
               (ratio > 1.0 / WITH_RATIO) & (ratio < WITH_RATIO)
    offset = positions[:, :2] - cam[:, :2]
    bearing = np.degrees(np.arctan2(np.einsum("fi,fi->f", offset, right_h), np.einsum("fi,fi->f", offset, fwd_h)))
    heading = np.degrees(np.unwrap(headings)) if headings is not None else None
    hfov = hfov_deg or DEFAULT_HFOV_DEG

    # A phase is one motion with one relation to the camera: a camera that follows for a while and then stops
    # makes two phases ("..., which follows her from behind, then keeps going as the camera stops ...").
    relation = np.where(labels == "still", "", np.where(together, np.where(
        labels == "towards", "leads", np.where(labels == "away", "follows", "alongside")), ""))
    min_len = max(1, int(round(MIN_SUBJECT_PHASE_S * fps)))
    runs = _absorb(_runs(list(zip(labels[frames], relation[frames]))), min_len, MAX_SUBJECT_PHASES)
    phases = []
    for (lab, rel), i, j in runs:
        f = frames[i:j]  # visible frames of this phase (possibly spanning a hidden gap)
        # The relation stands when most of the phase agrees (absorbed short runs may disagree).
        with_camera = str(rel) if rel and np.mean(together[f]) >= WITH_SHARE else ""
        crosses = False
        if lab in ("left", "right") and not with_camera:  # a camera moving alongside keeps it in place
            sweep = (bearing[f[-1]] - bearing[f[0]]) * (1 if lab == "right" else -1)
            crosses = bool(sweep >= CROSS_FRACTION * hfov)
        turn = abs(float(heading[f[-1]] - heading[f[0]])) if (lab == "still" and heading is not None) else 0.0
        phases.append(MotionPhase(int(f[0]), int(f[-1]) + 1, str(lab), float(np.mean(speed[f])), crosses,
                                  with_camera, turn))
    return tuple(_merge_same(phases))


def _merge_same(phases: list[MotionPhase]) -> list[MotionPhase]:
    """Neighbours that ended up saying the same thing (a relation that did not stand) become one phase."""
    out: list[MotionPhase] = []
    for p in phases:
        q = out[-1] if out else None
        if q is not None and (q.motion, q.camera, q.crosses) == (p.motion, p.camera, p.crosses):
            n_q, n_p = q.end - q.start, p.end - p.start
            out[-1] = MotionPhase(q.start, p.end, q.motion, (q.speed * n_q + p.speed * n_p) / (n_q + n_p), q.crosses,
                                  q.camera, q.turn_deg + p.turn_deg)
        else:
            out.append(p)
    return out


def in_field_of_view(positions: np.ndarray, c2w: np.ndarray, hfov_deg: float | None, height: float = 1.0
                     ) -> np.ndarray:
    """[F] bool: a point `height` metres above the subject's ground point lies inside the camera's horizontal
    field of view, in front of it. The stand-in for visibility when a clip has no masks (imported clips)."""
    p = np.asarray(positions, float) + np.array([0.0, 0.0, height])
    c2w = np.asarray(c2w, float)
    d = np.einsum("fji,fj->fi", c2w[:, :3, :3], p - c2w[:, :3, 3])  # world -> camera: R^T (p - t)
    half = np.radians((hfov_deg or DEFAULT_HFOV_DEG) / 2)
    return (d[:, 2] > 0.3) & (np.abs(d[:, 0]) <= np.tan(half) * d[:, 2])


# ------------------------------------------------------------------------------------------- requests
def build_request(clip_id: str, scene: str, subjects: Sequence[SubjectInfo], geometry: ClipGeometry,
                  events_subjects: Sequence[SubjectEvents | dict] | None, video_path: Path | None = None,
                  extra: dict | None = None) -> CaptionRequest:
    """The CaptionRequest for a clip: only its visible subjects, each with its visibility, its motion relative
    to the camera (when its positions and the camera are known) and the phrases for both; the camera's phases
    and prose (when its poses are known). `events_subjects` is events.json's "subjects" list (None: unknown)."""
    g = geometry
    by_id = _events_by_id(events_subjects or [], g.num_frames)
    vis = {s.instance_id: visibility_from_events(by_id.get(s.instance_id) if events_subjects is not None else None,
                                                 g.num_frames, g.context_frames, g.fps) for s in subjects}
    seen = [s for s in subjects if vis[s.instance_id].visible]
    cam_phases: tuple[CameraPhase, ...] = ()
    if g.camera_c2w is not None:
        cam_phases = camera_phases(g.camera_c2w, g.fps, {s.instance_id: vis[s.instance_id] for s in seen})
    motions = []
    for s in seen:
        phases: tuple[MotionPhase, ...] = ()
        pos = g.positions.get(s.instance_id)
        if g.camera_c2w is not None and pos is not None:
            fov = in_field_of_view(pos, g.camera_c2w, g.hfov_deg)
            phases = subject_phases(pos, g.headings.get(s.instance_id), g.camera_c2w, g.fps,
                                    visible_mask(vis[s.instance_id], fov), g.hfov_deg)
        motions.append(SubjectMotion(s.description, s.gait, instance_id=s.instance_id, kind=s.kind,
                                     pronoun=pronoun_for(s.description, s.kind), phases=phases,
                                     visibility=vis[s.instance_id]))
    motions = [phrases.with_motion_phrase(m) for m in motions]
    camera = phrases.camera_prose(cam_phases, motions) if g.camera_c2w is not None else ""
    return CaptionRequest(clip_id, scene, tuple(motions), camera, video_path,
                          extra=dict(extra or {}, frames=g.num_frames), camera_phases=cam_phases,
                          unseen_subjects=len(subjects) - len(seen))


def spec_geometry(spec) -> ClipGeometry:
    """The geometry of a ClipSpec (hmworld.clipspec)."""
    v = spec.video
    hfov = float(np.degrees(2 * np.arctan(0.5 * v.width / spec.intrinsics.fx)))
    return ClipGeometry(v.num_frames, v.context_frames, float(v.fps), np.asarray(spec.camera_c2w, float), hfov,
                        {t.instance_id: np.asarray(t.positions, float) for t in spec.subjects},
                        {t.instance_id: np.asarray(t.headings, float) for t in spec.subjects})


def caption_request(spec, catalog, events_subjects: Sequence[SubjectEvents | dict] | None,
                    video_path: Path | None = None
                    ) -> CaptionRequest:
    """The render job's request: `spec` a ClipSpec, `catalog` the Catalog it was composed from,
    `events_subjects` the clip's ClipEvents.subjects (visibility from the rendered masks)."""
    if spec.scene not in catalog.scenes:
        raise ConfigError(f"clip {spec.clip_id}: scene {spec.scene!r} is not in the catalog")
    infos = []
    for t in spec.subjects:
        entry = catalog.subjects.get(t.name)
        if entry is None:
            raise ConfigError(f"clip {spec.clip_id}: subject {t.name!r} is not in the catalog")
        infos.append(SubjectInfo(t.instance_id, entry.description, entry.gait, entry.kind))
    return build_request(spec.clip_id, catalog.scenes[spec.scene].description, infos, spec_geometry(spec),
                         events_subjects, video_path)
