"""Parametric subject paths and camera motion profiles (pure functions of their parameters and a Generator).

A subject path is a dense 2D polyline in a local frame (start at the origin, heading +X) with a given arc
length; the compositor rotates and translates it into the scene and samples it by distance walked. A camera
motion is a profile p(u) in [-1, 1] over normalised clip time u in [0, 1], scaled by the motion's amplitude.
"""
from __future__ import annotations

import numpy as np

from hmworld.catalog import SubjectTrajectorySpec

_DENSE = 1024  # polyline resolution; paths are at most a few tens of metres


def _rescale_to_length(points: np.ndarray, length: float) -> np.ndarray:
    seg = np.linalg.norm(np.diff(points, axis=0), axis=1)
    total = float(seg.sum())
    return points * (length / total) if total > 1e-9 else points


def _integrate_heading(heading: np.ndarray, length: float) -> np.ndarray:
    ds = length / (len(heading) - 1)
    steps = np.stack([np.cos(heading[:-1]), np.sin(heading[:-1])], axis=1) * ds
    return np.concatenate([np.zeros((1, 2)), np.cumsum(steps, axis=0)])


def path_shape(spec: SubjectTrajectorySpec, length: float, rng: np.random.Generator) -> np.ndarray:
    """Dense local polyline [N, 2] of the given arc length for a subject trajectory."""
    p, n = spec.params, _DENSE
    s = np.linspace(0.0, 1.0, n)
    kind = spec.type
    if kind in ("straight", "stop_and_go"):
        pts = np.stack([s * length, np.zeros(n)], axis=1)
    elif kind == "arc":
        turn = np.radians(p.get("turn_deg", 70.0)) * rng.choice([-1.0, 1.0])
        pts = _integrate_heading(turn * s, length)
    elif kind == "circle":
        turn = 2 * np.pi * p.get("turns", 1.0) * rng.choice([-1.0, 1.0])
        pts = _integrate_heading(turn * s, length)
    elif kind == "zigzag":
        amp, wl = p.get("amplitude", 1.5), p.get("wavelength", 5.0)
        x = np.linspace(0.0, length, n)
        tri = 2 * np.abs(2 * ((x / wl + 0.25) % 1.0) - 1.0) - 1.0
        pts = _rescale_to_length(np.stack([x, amp * tri], axis=1), length)
    elif kind == "out_and_back":
        x = length / 2 * (1 - np.abs(2 * s - 1))
        pts = np.stack([x, np.zeros(n)], axis=1)
        pts[n // 2:, 1] = 0.0
    elif kind == "figure_eight":
        phi = 2 * np.pi * s
        pts = _rescale_to_length(np.stack([np.sin(phi), np.sin(phi) * np.cos(phi)], axis=1) * p.get("size", 1.0), length)
    elif kind == "waypoints":
        count, spread = int(p.get("count", 4)), p.get("spread", 5.0)
        way = np.concatenate([np.zeros((1, 2)), rng.uniform(-spread, spread, size=(count, 2))])
        pts = _rescale_to_length(_catmull_rom(way, n), length)
    elif kind == "spiral":
        turns, shrink = p.get("turns", 1.3), p.get("shrink", 0.6)
        phi = 2 * np.pi * turns * s
        r = shrink + s
        pts = np.stack([r * np.cos(phi), r * np.sin(phi) * rng.choice([-1.0, 1.0])], axis=1)
        pts = _rescale_to_length(pts - pts[0], length)
    elif kind == "turn":  # straight on, then a turn of turn_deg (either way) around `at` of the path, straight on
        turn = np.radians(p.get("turn_deg", 75.0)) * rng.choice([-1.0, 1.0])
        at, width = p.get("at", 0.7), p.get("width", 0.08)
        x = np.clip((s - at) / width + 0.5, 0.0, 1.0)
        pts = _integrate_heading(turn * x * x * (3 - 2 * x), length)
    elif kind == "wander":
        rate = np.radians(p.get("turn_rate_deg", 40.0))
        freqs, phases, amps = rng.uniform(0.5, 3.0, 3), rng.uniform(0, 2 * np.pi, 3), rng.normal(0, 1, 3)
        omega = sum(a * np.sin(2 * np.pi * f * s + ph) for f, ph, a in zip(freqs, phases, amps))
        heading = np.cumsum(omega) / n * rate * length
        pts = _integrate_heading(heading - heading[0], length)
    else:  # the catalog validates types; this guards new types added without a shape
        raise ValueError(f"no path shape for subject trajectory type {kind!r}")
    return pts


def _catmull_rom(points: np.ndarray, n: int) -> np.ndarray:
    """Smooth curve through control points (uniform Catmull-Rom), n samples."""
    ext = np.concatenate([points[:1] * 2 - points[1:2], points, points[-1:] * 2 - points[-2:-1]])
    segs = len(points) - 1
    t = np.linspace(0, segs, n, endpoint=False)
    t = np.append(t, segs - 1e-9)
    i = np.minimum(t.astype(int), segs - 1)
    u = (t - i)[:, None]
    p0, p1, p2, p3 = ext[i], ext[i + 1], ext[i + 2], ext[i + 3]
    return 0.5 * ((2 * p1) + (-p0 + p2) * u + (2 * p0 - 5 * p1 + 4 * p2 - p3) * u**2 + (-p0 + 3 * p1 - 3 * p2 + p3) * u**3)


def distance_profile(spec: SubjectTrajectorySpec, num_frames: int) -> np.ndarray:
    """Fraction of the path walked at each frame, in [0, 1]; stop-and-go pauses are flat stretches."""
    u = np.linspace(0.0, 1.0, num_frames)
    if spec.type != "stop_and_go":
        return u
    cycles, duty = spec.params.get("cycles", 2.0), spec.params.get("duty", 0.6)
    # moving for `duty` of each cycle, standing still for the rest; the ramps keep the speed continuous
    phase = (u * cycles) % 1.0
    speed = np.clip((duty - phase) / 0.08, 0.0, 1.0) * np.clip(phase / 0.08, 0.0, 1.0)
    dist = np.concatenate([[0.0], np.cumsum(0.5 * (speed[1:] + speed[:-1]))])
    return dist / max(dist[-1], 1e-9)


def moving_fraction(spec: SubjectTrajectorySpec) -> float:
    """Share of the clip during which the subject moves (sets the path length for a given speed)."""
    return spec.params.get("duty", 0.6) if spec.type == "stop_and_go" else 1.0


def sample_path(local: np.ndarray, fraction: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Positions [F, 2] and headings [F] (radians, 0 = +X) at the given fractions of arc length."""
    seg = np.linalg.norm(np.diff(local, axis=0), axis=1)
    cum = np.concatenate([[0.0], np.cumsum(seg)])
    s = fraction * cum[-1]
    xy = np.stack([np.interp(s, cum, local[:, 0]), np.interp(s, cum, local[:, 1])], axis=1)
    tangent = np.diff(local, axis=0)
    tangent_heading = np.unwrap(np.arctan2(tangent[:, 1], tangent[:, 0]))
    idx = np.clip(np.searchsorted(cum, s, side="right") - 1, 0, len(tangent) - 1)
    return xy, tangent_heading[idx]


def motion_profile(profile: str, u: np.ndarray) -> np.ndarray:
    """Back-and-forth shapes over normalised time; 0 at the start, mostly 0 again at the end."""
    def smooth(a, b):  # smoothstep from 0 at a to 1 at b
        x = np.clip((u - a) / (b - a), 0.0, 1.0)
        return x * x * (3 - 2 * x)

    if profile == "away_back":
        return np.sin(np.pi * u)
    if profile == "away_hold_back":
        return smooth(0.0, 0.35) - smooth(0.65, 1.0)
    if profile == "swing":
        return np.sin(2 * np.pi * u)
    if profile == "late_return":
        return smooth(0.0, 0.3) - smooth(0.75, 1.0)
    if profile == "early_return":
        return smooth(0.05, 0.3) - smooth(0.45, 0.65)
    if profile == "double":
        return np.sin(2 * np.pi * u) ** 2
    raise ValueError(f"unknown camera motion profile {profile!r}")
