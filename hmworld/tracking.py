"""Tracking shots: the camera behaviour of HM-World, as pure functions of a Generator and the settings.

A level, hand-held camera moves with the main subject (backing away ahead of it, following it from behind or
walking alongside) at the subject's walking pace, framing it large; near the end of the context it pans away
so the subject leaves the view, and in the target half it pans back so the subject re-enters
(`../shared/design/HMWORLD_PROFILE.md`). Instead of sampling a pan amplitude and hoping, the pan is *timed*:
the exit frame and the hidden gap are drawn from their distributions and the pan is solved so that the
subject's projected silhouette (an ellipse in plan, the geometric pre-filter's model) crosses the edge of the
view at exactly those frames. The rendered masks still decide; the pre-filter measures how often the plan holds.

Frame-valued settings are given for a 77-frame context at 15 fps (the paper's clips) and scale with
`video.context_frames`; rates scale inversely, so a short test clip is the same shot, faster.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from hmworld.errors import ConfigError

REFERENCE_CONTEXT = 77  # frame-valued settings are stated for this context length
TRACK_MODES = ("lead", "follow", "alongside")
# where the camera stands relative to the subject at frame 0, in the path's local frame (subject heading +X)
MODE_OFFSET = {"lead": (1.0, 0.0), "follow": (-1.0, 0.0), "alongside": (0.0, 1.0)}


def _pair(value, name: str, lo: float | None = None, hi: float | None = None) -> tuple[float, float]:
    try:
        a, b = (float(x) for x in value)
    except (TypeError, ValueError):
        raise ConfigError(f"{name} must be a [min, max] pair of numbers, got {value!r}") from None
    if not a <= b or (lo is not None and a < lo) or (hi is not None and b > hi):
        bounds = f" within [{lo}, {hi}]" if lo is not None or hi is not None else ""
        raise ConfigError(f"{name}={[a, b]} must be [min, max] with min <= max{bounds}")
    return a, b


@dataclass(frozen=True)
class TrackingSettings:
    """The distributions a tracking shot is drawn from: the `tracking:` block of render.yaml, where the defaults
    and their reasons live (documented there once)."""

    subject_trajectories: tuple[str, ...]
    pace: tuple[float, float]  # m/s; the camera walks at the subject's speed
    distance: tuple[float, float]  # metres at frame 0 for a 1.7 m subject, scaled by its height
    height_ratio: tuple[float, float]  # camera height / subject height
    height: tuple[float, float]  # camera height clamp, metres
    framing_deg: tuple[float, float]  # subject off-centre at frame 0, towards its exit side
    exit_frame: tuple[float, float]  # planned first hidden frame (77-frame context)
    hidden_gap: tuple[float, float]  # planned frames out of view (77-frame context)
    pan_rate: tuple[float, float]  # peak yaw rate, degrees per frame (77-frame context)
    overshoot_deg: tuple[float, float]  # how far the pan goes past the exit
    return_residual_deg: tuple[float, float]  # how far from the start heading the return stops
    camera_stop_probability: float  # the camera stops walking around the pan (HM-World: 3 of 4 clips)
    camera_stop_frame: tuple[float, float]  # where it has stopped (77-frame context)
    stop_ramp_frames: float  # frames to slow from walking to standing

    @classmethod
    def from_config(cls, t) -> "TrackingSettings":
        p = float(t.camera_stop_probability)
        if not 0.0 <= p <= 1.0:
            raise ConfigError(f"tracking.camera_stop_probability={p} must be within [0, 1]")
        ramp = float(t.stop_ramp_frames)
        if ramp < 1:
            raise ConfigError(f"tracking.stop_ramp_frames={ramp} must be >= 1")
        return cls(
            subject_trajectories=tuple(str(x) for x in t.subject_trajectories),
            pace=_pair(t.pace, "tracking.pace", 0.05, 10.0),
            distance=_pair(t.distance, "tracking.distance", 0.3, 50.0),
            height_ratio=_pair(t.height_ratio, "tracking.height_ratio", 0.05, 3.0),
            height=_pair(t.height, "tracking.height", 0.1, 20.0),
            framing_deg=_pair(t.framing_deg, "tracking.framing_deg", -45.0, 45.0),
            exit_frame=_pair(t.exit_frame, "tracking.exit_frame", 1.0, REFERENCE_CONTEXT - 1),
            hidden_gap=_pair(t.hidden_gap, "tracking.hidden_gap", 1.0),
            pan_rate=_pair(t.pan_rate, "tracking.pan_rate", 0.05, 90.0),
            overshoot_deg=_pair(t.overshoot_deg, "tracking.overshoot_deg", 0.0, 90.0),
            return_residual_deg=_pair(t.return_residual_deg, "tracking.return_residual_deg", 0.0, 90.0),
            camera_stop_probability=p,
            camera_stop_frame=_pair(t.camera_stop_frame, "tracking.camera_stop_frame", 0.0),
            stop_ramp_frames=ramp,
        )

    def check_feasible(self, context_frames: int, gap_rule: tuple[int, int], hfov_min_deg: float) -> None:
        """Refuse settings that cannot produce the event the rules ask for, naming the setting."""
        scale = context_frames / REFERENCE_CONTEXT
        exit_lo, exit_hi = (x * scale for x in self.exit_frame)
        gap_lo, gap_hi = (x * scale for x in self.hidden_gap)
        if exit_hi + min(gap_hi, gap_rule[1]) < context_frames + 1:
            raise ConfigError(
                f"tracking.exit_frame={list(self.exit_frame)} and tracking.hidden_gap={list(self.hidden_gap)} "
                f"(scaled to a {context_frames}-frame context) with events.hidden_gap={list(gap_rule)} never reach "
                f"the target half: the latest exit plus the longest gap must be at least {context_frames + 1}")
        if gap_hi < gap_rule[0] or gap_lo > gap_rule[1]:
            raise ConfigError(
                f"tracking.hidden_gap={list(self.hidden_gap)} (scaled: {gap_lo:.1f}-{gap_hi:.1f} frames) lies outside "
                f"events.hidden_gap={list(gap_rule)}: no planned gap would count as an event")
        if self.return_residual_deg[1] >= hfov_min_deg / 2 - self.framing_deg[1]:
            raise ConfigError(
                f"tracking.return_residual_deg={list(self.return_residual_deg)} must stay below half the narrowest "
                f"field of view minus the framing offset ({hfov_min_deg / 2 - self.framing_deg[1]:.1f} degrees): "
                "the pan back would stop before the subject re-enters")


def size_scale(subject_height: float) -> float:
    """Framing distances are stated for a 1.7 m person: smaller subjects are filmed closer, larger further."""
    return float(np.clip(subject_height / 1.7, 0.3, 2.8))


def silhouette_half_width(half_along, half_across, heading, bearing):
    """Half-width of a body's footprint rectangle (half-extents along its heading and across, over a whole walk
    cycle: body.footprint_half_axes) seen along `bearing` (radians, camera -> subject): an upper bound of the
    silhouette, exact for a box. Shared by the compositor's pan timing and the geometric pre-filter."""
    a = heading - bearing
    return half_along * np.abs(np.sin(a)) + half_across * np.abs(np.cos(a))


def smoothstep(x: np.ndarray) -> np.ndarray:
    x = np.clip(x, 0.0, 1.0)
    return x * x * (3.0 - 2.0 * x)


_SS_U = np.linspace(0.0, 1.0, 2049)
_SS_V = smoothstep(_SS_U)


def inverse_smoothstep(y: float) -> float:
    return float(np.interp(y, _SS_V, _SS_U))


@dataclass(frozen=True)
class PanPlan:
    """A pan away and back in degrees over frames: 0 until `start`, up to `peak` (smoothstep, peak rate
    `rate_out`), held, then back down to `residual` starting at `back_start`."""

    start: float
    out_frames: float
    peak: float
    back_start: float
    back_frames: float
    residual: float

    def angles(self, frames: np.ndarray) -> np.ndarray:
        out = self.peak * smoothstep((frames - self.start) / self.out_frames)
        back = (self.peak - self.residual) * smoothstep((frames - self.back_start) / self.back_frames)
        return out - back


def plan_pan(exit_angle: float, entry_angle: float, exit_frame: float, entry_frame: float, rate_out: float,
             rate_back: float, overshoot: float, residual: float) -> PanPlan | None:
    """Solve a pan whose angle first reaches `exit_angle` at `exit_frame` and comes back below `entry_angle` at
    `entry_frame`. A smoothstep of amplitude P over T frames peaks at rate 1.5 P / T, so each ramp's length
    follows from its rate. The overshoot shrinks until the out and back ramps fit into the gap; None when even
    a 0.5-degree overshoot does not fit."""
    for _ in range(24):
        peak = max(exit_angle, entry_angle) + overshoot
        out_frames = 1.5 * peak / rate_out
        start = exit_frame - inverse_smoothstep(exit_angle / peak) * out_frames
        back_frames = 1.5 * (peak - residual) / rate_back
        back_start = entry_frame - inverse_smoothstep((peak - entry_angle) / (peak - residual)) * back_frames
        if back_start >= start + out_frames and start >= 0.0:
            return PanPlan(start, out_frames, peak, back_start, back_frames, residual)
        if overshoot <= 0.5:
            return None
        overshoot *= 0.7
    return None


def stop_time_warp(num_frames: int, stop_frame: float | None, ramp: float) -> np.ndarray:
    """The camera's own clock: it follows the subject's path frame by frame, then slows over `ramp` frames and
    stands still from `stop_frame` on (None: never stops). Monotone, continuous speed."""
    t = np.arange(num_frames, dtype=float)
    if stop_frame is None:
        return t
    speed = 1.0 - smoothstep((t - (stop_frame - ramp)) / ramp)
    return np.concatenate([[0.0], np.cumsum(0.5 * (speed[1:] + speed[:-1]))])


def interp_path(xy: np.ndarray, clock: np.ndarray) -> np.ndarray:
    """Positions of a per-frame path [F, 2] at fractional frame times."""
    f = np.arange(len(xy), dtype=float)
    return np.stack([np.interp(clock, f, xy[:, 0]), np.interp(clock, f, xy[:, 1])], axis=1)


def smooth_angles(angles: np.ndarray, window: int) -> np.ndarray:
    """Moving average of unwrapped angles (edges padded), so a hand-held camera does not jitter."""
    if window <= 1 or len(angles) < 3:
        return angles
    window = min(window, len(angles) - (1 - len(angles) % 2))
    pad = window // 2
    padded = np.concatenate([np.full(pad, angles[0]), angles, np.full(pad, angles[-1])])
    return np.convolve(padded, np.ones(window) / window, mode="valid")[: len(angles)]
