"""The compositor: from (config, seed, slot, attempt) to a ClipSpec, or the reason a candidate was dropped.

Candidate `attempt` of clip `slot` draws every random choice from its own Generator seeded with
(seed, slot, attempt), so a clip depends on nothing but the config and those three numbers: shards can
render disjoint slots on different machines and a resumed run re-creates exactly the same candidates.
"""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from hmworld.catalog import (Catalog, CameraTrajectorySpec, SceneSpec, SubjectSpec, SubjectTrajectorySpec)
from hmworld.clipspec import ClipSpec, SubjectTrack, VideoSpec
from hmworld.errors import ConfigError
from hmworld.geometry import Intrinsics, c2w_from_forward, forward_from_angles
from hmworld.trajectories import distance_profile, motion_profile, moving_fraction, path_shape, sample_path

CAMERA_CLEARANCE = 0.3  # metres the camera keeps from walls and props


@dataclass(frozen=True)
class CompositorSettings:
    subjects_per_clip: tuple[int, ...] = (1, 2, 3)
    subjects_per_clip_weights: tuple[float, ...] = (0.5, 0.3, 0.2)
    hfov_deg: tuple[float, float] = (60.0, 75.0)
    scene_margin: float = 0.8
    placement_tries: int = 24


@dataclass
class CompositionContext:
    """The catalog entries a split may draw from, and the fixed clip settings."""

    seed: int
    partition: str
    video: VideoSpec
    scenes: list[SceneSpec]
    subjects: list[SubjectSpec]
    subject_trajectories: list[SubjectTrajectorySpec]
    camera_trajectories: list[CameraTrajectorySpec]
    settings: CompositorSettings = field(default_factory=CompositorSettings)

    @classmethod
    def from_config(cls, catalog: Catalog, cfg) -> "CompositionContext":
        part = catalog.partitions.get(cfg.partition.name)
        if part is None:
            raise ConfigError(f"unknown partition {cfg.partition.name!r}; known: {sorted(catalog.partitions)}")
        c = cfg.compositor
        settings = CompositorSettings(tuple(c.subjects_per_clip), tuple(c.subjects_per_clip_weights),
                                      tuple(c.hfov_deg), float(c.scene_margin))
        if len(settings.subjects_per_clip) != len(settings.subjects_per_clip_weights) or \
                not all(1 <= n <= 3 for n in settings.subjects_per_clip):
            raise ConfigError("compositor.subjects_per_clip must list counts in 1..3, one weight each")
        if not 10.0 <= settings.hfov_deg[0] <= settings.hfov_deg[1] <= 150.0:
            raise ConfigError(f"compositor.hfov_deg must be [min, max] within 10..150, got {list(settings.hfov_deg)}")
        ctx = cls(
            seed=int(cfg.seed), partition=part.name, video=video_spec(cfg.video),
            scenes=catalog.select("scenes", _names(cfg.scenes), part.scenes),
            subjects=catalog.select("subjects", _names(cfg.subjects), part.subjects),
            subject_trajectories=catalog.select("subject_trajectories", _names(cfg.subject_trajectories)),
            camera_trajectories=catalog.select("camera_trajectories", _names(cfg.camera_trajectories)),
            settings=settings,
        )
        if max(settings.subjects_per_clip) > len(ctx.subjects):
            raise ConfigError(f"compositor.subjects_per_clip asks for up to {max(settings.subjects_per_clip)} subjects "
                              f"but only {len(ctx.subjects)} are selected")
        ctx.check_trajectories_fit()
        return ctx

    def check_trajectories_fit(self) -> None:
        """A subject trajectory walked at the slowest selected speed must fit inside some selected scene."""
        duration = (self.video.num_frames - 1) / self.video.fps
        slowest = min(s.speed[0] for s in self.subjects)
        margin = self.settings.scene_margin + min(s.radius for s in self.subjects)
        rooms = np.array([[sc.extent[0] - 2 * margin, sc.extent[1] - 2 * margin] for sc in self.scenes])
        angles = np.linspace(0, np.pi, 36, endpoint=False)
        rot = np.stack([np.cos(angles), -np.sin(angles), np.sin(angles), np.cos(angles)], 1).reshape(-1, 2, 2)
        for traj in self.subject_trajectories:
            length = slowest * duration * moving_fraction(traj)
            local = path_shape(traj, length, np.random.default_rng(0))
            spans = np.ptp(np.einsum("aij,nj->ani", rot, local), axis=1)  # [angles, 2]
            fits = np.all(spans[:, None, :] <= rooms[None, :, :], axis=-1)
            if not fits.any():
                raise ConfigError(
                    f"subject trajectory {traj.name!r} walked at {slowest:.2f} m/s for {duration:.1f} s spans at "
                    f"least {spans.max(axis=1).min():.1f} m and leaves every selected scene (largest walkable area "
                    f"{rooms.max(axis=0).round(1).tolist()} m); shorten the clip, or choose larger scenes or other "
                    "trajectories")


def _names(value) -> list[str] | None:
    if value is None:
        return None
    return [value] if isinstance(value, str) else [str(v) for v in value]


def video_spec(v) -> VideoSpec:
    """Validated video settings; an impossible size or frame count is a ConfigError naming the field."""
    width, height, fps = int(v.width), int(v.height), float(v.fps)
    ctx_f, tgt_f = int(v.context_frames), int(v.target_frames)
    problems = []
    for name, val in (("video.width", width), ("video.height", height)):
        if not 16 <= val <= 8192:
            problems.append(f"{name}={val} must be within 16..8192 pixels")
        elif val % 2:
            problems.append(f"{name}={val} must be even (H.264 with 4:2:0 chroma)")
    if not 0 < fps <= 240:
        problems.append(f"video.fps={fps} must be within (0, 240]")
    for name, val in (("video.context_frames", ctx_f), ("video.target_frames", tgt_f)):
        if not 2 <= val <= 2000:
            problems.append(f"{name}={val} must be within 2..2000 (an exit needs frames on both sides)")
    if problems:
        raise ConfigError("; ".join(problems))
    return VideoSpec(width, height, fps, ctx_f, tgt_f)


@dataclass(frozen=True)
class Rejection:
    reason: str


def clip_id_for(partition: str, seed: int, slot: int) -> str:
    return f"{partition}_s{seed}_{slot:06d}"


def compose(ctx: CompositionContext, slot: int, attempt: int) -> ClipSpec | Rejection:
    """Sample candidate `attempt` of clip `slot`. Pure: same arguments, same result."""
    rng = np.random.default_rng([ctx.seed, slot, attempt])
    st = ctx.settings
    video = ctx.video
    num_f = video.num_frames
    duration = (num_f - 1) / video.fps
    scene = ctx.scenes[rng.integers(len(ctx.scenes))]
    count = int(rng.choice(st.subjects_per_clip, p=np.asarray(st.subjects_per_clip_weights) / sum(st.subjects_per_clip_weights)))
    chosen = [ctx.subjects[i] for i in rng.choice(len(ctx.subjects), size=count, replace=False)]
    tracks: list[SubjectTrack] = []
    for k, subject in enumerate(chosen):
        traj = ctx.subject_trajectories[rng.integers(len(ctx.subject_trajectories))]
        track = _place_subject(rng, scene, subject, traj, k + 1, num_f, duration, st, tracks)
        if track is None:
            return Rejection("placement:subject_does_not_fit")
        tracks.append(track)
    cam_traj = ctx.camera_trajectories[rng.integers(len(ctx.camera_trajectories))]
    hfov = float(rng.uniform(*st.hfov_deg))
    intr = Intrinsics.from_hfov(video.width, video.height, hfov)
    direction = "left" if rng.random() < 0.5 else "right"
    c2w = _camera_path(rng, scene, cam_traj, chosen[0], tracks[0], direction, num_f)
    if c2w is None:
        return Rejection("placement:camera_leaves_scene")
    return ClipSpec(
        clip_id=clip_id_for(ctx.partition, ctx.seed, slot), seed=ctx.seed, slot=slot, attempt=attempt,
        partition=ctx.partition, scene=scene.name, video=video, intrinsics=intr, camera_trajectory=cam_traj.name,
        camera_direction=direction, camera_c2w=c2w, subjects=tracks,
    )


def _place_subject(rng, scene: SceneSpec, subject: SubjectSpec, traj: SubjectTrajectorySpec, instance_id: int,
                   num_f: int, duration: float, st: CompositorSettings, others: list[SubjectTrack]) -> SubjectTrack | None:
    speed = float(rng.uniform(*subject.speed))
    length = max(speed * duration * moving_fraction(traj), 1e-3)
    local = path_shape(traj, length, rng)
    frac = distance_profile(traj, num_f)
    xmin, ymin, xmax, ymax = scene.walkable_bounds(st.scene_margin + subject.radius)
    props = np.array([[p.position[0], p.position[1], p.footprint_radius] for p in scene.props]).reshape(-1, 3)
    check = local[:: max(1, len(local) // 64)]
    for _ in range(st.placement_tries):
        theta = rng.uniform(0, 2 * np.pi)
        rot = np.array([[np.cos(theta), -np.sin(theta)], [np.sin(theta), np.cos(theta)]])
        pts = check @ rot.T
        lo_x, hi_x = xmin - pts[:, 0].min(), xmax - pts[:, 0].max()
        lo_y, hi_y = ymin - pts[:, 1].min(), ymax - pts[:, 1].max()
        if lo_x > hi_x or lo_y > hi_y:
            continue
        offset = np.array([rng.uniform(lo_x, hi_x), rng.uniform(lo_y, hi_y)])
        world = pts + offset
        if len(props):
            d = np.linalg.norm(world[:, None, :] - props[None, :, :2], axis=-1)
            if np.any(d < props[None, :, 2] + subject.radius):
                continue
        xy, heading = sample_path(local @ rot.T + offset, frac)
        if any(np.any(np.linalg.norm(xy - o.positions[:, :2], axis=1) < subject.radius + 0.6) for o in others):
            continue  # subjects never walk through each other
        positions = np.concatenate([xy, np.zeros((num_f, 1))], axis=1)
        walked = frac * length
        return SubjectTrack(instance_id, subject.name, traj.name, speed, positions, heading,
                            walked / subject.stride)
    return None


def _camera_path(rng, scene: SceneSpec, traj: CameraTrajectorySpec, subject: SubjectSpec, track: SubjectTrack,
                 direction: str, num_f: int) -> np.ndarray | None:
    """Camera-to-world poses: a start pose framing the first subject, then the trajectory's motions."""
    # frame small animals closer and lower, large ones from further away
    size = float(np.clip(subject.height / 1.7, 0.4, 2.2))
    dist = float(rng.uniform(*traj.distance)) * size
    height = max(0.6, float(rng.uniform(*traj.height)) * max(size, 0.5))
    focus = track.positions[0] + np.array([0.0, 0.0, 0.55 * subject.height])
    hx, hy = scene.extent[0] / 2 - CAMERA_CLEARANCE, scene.extent[1] / 2 - CAMERA_CLEARANCE
    props = np.array([[p.position[0], p.position[1], p.footprint_radius] for p in scene.props]).reshape(-1, 3)
    sign = 1.0 if direction == "left" else -1.0
    u = np.linspace(0.0, 1.0, num_f)
    for _ in range(16):
        alpha = rng.uniform(0, 2 * np.pi)
        start = focus[:2] + dist * np.array([np.cos(alpha), np.sin(alpha)])
        pos = np.tile(np.array([start[0], start[1], height]), (num_f, 1))
        to_focus = focus - pos[0]
        yaw0 = np.arctan2(to_focus[1], to_focus[0])
        pitch0 = np.arctan2(to_focus[2], np.linalg.norm(to_focus[:2]))
        yaw = np.full(num_f, yaw0)
        pitch = np.full(num_f, pitch0)
        roll = np.zeros(num_f)
        fwd0 = np.array([np.cos(yaw0), np.sin(yaw0), 0.0])
        left0 = np.array([-np.sin(yaw0), np.cos(yaw0), 0.0])
        for m in traj.motions:
            p = motion_profile(m.profile, u) * m.amplitude
            if m.motion == "orbit":
                ang = sign * np.radians(p)
                rel = pos[:, :2] - focus[:2]
                c, s = np.cos(ang), np.sin(ang)
                pos[:, :2] = focus[:2] + np.stack([c * rel[:, 0] - s * rel[:, 1], s * rel[:, 0] + c * rel[:, 1]], 1)
                yaw = yaw + ang  # keep facing the focus point, other motions add on top
            elif m.motion == "pan":
                yaw = yaw + sign * np.radians(p)
            elif m.motion == "tilt":
                pitch = pitch + np.radians(p)
            elif m.motion == "roll":
                roll = roll + sign * np.radians(p)
            elif m.motion == "truck":
                pos = pos + sign * p[:, None] * left0
            elif m.motion == "dolly":
                pos = pos + p[:, None] * fwd0
            elif m.motion == "crane":
                pos[:, 2] = pos[:, 2] + p
        pitch = np.clip(pitch, np.radians(-85), np.radians(85))
        inside = np.all(np.abs(pos[:, 0]) <= hx) and np.all(np.abs(pos[:, 1]) <= hy) and np.all(pos[:, 2] >= 0.25)
        if inside and len(props):
            d = np.linalg.norm(pos[:, None, :2] - props[None, :, :2], axis=-1)
            inside = not np.any(d < props[None, :, 2] + CAMERA_CLEARANCE)
        if inside:
            return c2w_from_forward(pos, forward_from_angles(yaw, pitch), roll)
    return None
