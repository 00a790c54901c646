"""The compositor: from (config, seed, slot, attempt) to a ClipSpec, or the reason a candidate was dropped.

Candidate `attempt` of clip `slot` draws every random choice from its own Generator seeded with
(seed, slot, attempt), so a clip depends on nothing but the config and those three numbers: shards can
render disjoint slots on different machines and a resumed run re-creates exactly the same candidates.

Subject 1 is the main subject: the camera frames it at frame 0. With a tracking shot (the default, modelled on
HM-World: hmworld/tracking.py) the camera walks with it and the pan away and back is timed to give the
planned exit and re-entry; with a free camera trajectory (sums of motions) the camera starts framing it.
Further subjects start inside the first frame's view, so every subject of a clip can be seen.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable

import numpy as np

from hmworld.body import footprint_half_axes
from hmworld.catalog import (Catalog, CameraTrajectorySpec, SceneSpec, SubjectSpec, SubjectTrajectorySpec)
from hmworld.clipspec import ClipSpec, SubjectTrack, VideoSpec
from hmworld.errors import ConfigError
from hmworld.events import EventRules, min_visible_pixels
from hmworld.geometry import Intrinsics, c2w_from_forward, forward_from_angles
from hmworld.tracking import (MODE_OFFSET, REFERENCE_CONTEXT, TrackingSettings, interp_path, plan_pan,
                              silhouette_half_width, size_scale, smooth_angles, stop_time_warp)
from hmworld.trajectories import distance_profile, motion_profile, moving_fraction, path_shape, sample_path

CAMERA_CLEARANCE = 0.3  # metres the camera keeps from walls and props
EDGE_MARGIN_DEG = 1.0  # a planned exit turns this far past the silhouette's edge, a planned entry this far short


@dataclass(frozen=True)
class CompositorSettings:
    subjects_per_clip: tuple[int, ...] = (1, 2, 3)
    subjects_per_clip_weights: tuple[float, ...] = (0.5, 0.3, 0.2)
    hfov_deg: tuple[float, float] = (50.0, 64.0)
    scene_margin: float = 0.8
    placement_tries: int = 24
    # further subjects start in the first frame's view, this far from the camera (metres, scaled by their size)
    others_distance: tuple[float, float] = (3.0, 9.0)


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
    rules: EventRules
    settings: CompositorSettings = field(default_factory=CompositorSettings)
    tracking: TrackingSettings | None = None  # None: only free camera trajectories
    tracking_trajectories: list[SubjectTrajectorySpec] = field(default_factory=list)
    # the body model's footprint (hmworld.body.BodyModel.footprint_half_axes): primitive bodies unless set
    footprint: Callable[[SubjectSpec], tuple[float, float]] = footprint_half_axes

    @classmethod
    def from_config(cls, catalog: Catalog, cfg) -> "CompositionContext":
        part = catalog.partitions.get(cfg.partition.name)
        if part is None:
            raise ConfigError(f"unknown partition {cfg.partition.name!r}; known: {sorted(catalog.partitions)}")
        c = cfg.compositor
        settings = CompositorSettings(tuple(c.subjects_per_clip), tuple(c.subjects_per_clip_weights),
                                      tuple(c.hfov_deg), float(c.scene_margin),
                                      others_distance=tuple(float(x) for x in c.others_distance))
        if len(settings.subjects_per_clip) != len(settings.subjects_per_clip_weights) or \
                not all(1 <= n <= 3 for n in settings.subjects_per_clip):
            raise ConfigError("compositor.subjects_per_clip must list counts in 1..3, one weight each")
        near = settings.others_distance
        if len(near) != 2 or not 0.5 <= near[0] <= near[1]:
            raise ConfigError(f"compositor.others_distance must be [min, max] metres with 0.5 <= min <= max, "
                              f"got {list(settings.others_distance)}")
        if not 10.0 <= settings.hfov_deg[0] <= settings.hfov_deg[1] <= 150.0:
            raise ConfigError(f"compositor.hfov_deg must be [min, max] within 10..150, got {list(settings.hfov_deg)}")
        video = video_spec(cfg.video)
        tracking = TrackingSettings.from_config(cfg.tracking)  # validated even when unused: a typo fails early
        ctx = cls(
            seed=int(cfg.seed), partition=part.name, video=video,
            scenes=catalog.select("scenes", _names(cfg.scenes), part.scenes),
            subjects=catalog.select("subjects", _names(cfg.subjects), part.subjects),
            subject_trajectories=catalog.select("subject_trajectories", _names(cfg.subject_trajectories)),
            camera_trajectories=catalog.select("camera_trajectories", _names(cfg.camera_trajectories)),
            rules=event_rules(cfg.events, video), settings=settings, tracking=tracking,
            tracking_trajectories=catalog.select("subject_trajectories", list(tracking.subject_trajectories)),
        )
        if max(settings.subjects_per_clip) > len(ctx.subjects):
            raise ConfigError(f"compositor.subjects_per_clip asks for up to {max(settings.subjects_per_clip)} subjects "
                              f"but only {len(ctx.subjects)} are selected")
        if any(c.kind == "track" for c in ctx.camera_trajectories):
            tracking.check_feasible(video.context_frames, ctx.rules.hidden_gap, settings.hfov_deg[0])
            ctx.check_tracking_fits()
        ctx.check_trajectories_fit()
        return ctx

    @property
    def duration(self) -> float:
        return (self.video.num_frames - 1) / self.video.fps

    def check_tracking_fits(self) -> None:
        """A tracking shot walks the main subject (and the camera beside it) across the scene: refuse a selected
        scene that cannot hold the shortest such walk, naming it."""
        t = self.tracking
        slowest = min(tracked_speed_range(s, t.pace)[0] for s in self.subjects)
        walk = slowest * self.duration * min(moving_fraction(tr) for tr in self.tracking_trajectories)
        smallest = min(self.subjects, key=lambda s: s.height)
        need = walk + t.distance[0] * size_scale(smallest.height)
        for sc in self.scenes:
            x0, y0, x1, y1 = sc.walkable_bounds(self.settings.scene_margin + smallest.radius)
            if need > float(np.hypot(x1 - x0, y1 - y0)):
                raise ConfigError(
                    f"scene {sc.name!r} ({sc.extent[0]:g} x {sc.extent[1]:g} m) is too small for a tracking shot: the "
                    f"shortest walk with the camera beside it spans {need:.1f} m over {self.duration:.1f} s; choose "
                    "larger scenes, shorter clips, or free camera trajectories")

    def check_trajectories_fit(self) -> None:
        """A subject trajectory walked at the slowest selected speed must fit inside some selected scene."""
        duration = self.duration
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


def event_rules(ev, video: VideoSpec) -> EventRules:
    """The event rules from render.yaml's `events:` block, validated (the pre-filter and the masks share them)."""
    gap = tuple(int(x) for x in ev.hidden_gap)
    rules = EventRules(
        min_visible_pixels=min_visible_pixels(video.width, video.height, float(ev.min_visible_fraction),
                                              int(ev.min_visible_pixels_floor)),
        visible_at_start=int(ev.visible_at_start), min_event_height=float(ev.min_event_height),
        size_window=int(ev.size_window), hidden_gap=gap)  # type: ignore[arg-type]
    if len(gap) != 2 or not 1 <= gap[0] <= gap[1]:
        raise ConfigError(f"events.hidden_gap={list(gap)} must be [min, max] frames with 1 <= min <= max")
    if not 0 <= rules.visible_at_start < video.context_frames:
        raise ConfigError(f"events.visible_at_start={rules.visible_at_start} must be within [0, context_frames)")
    if not 0.0 <= rules.min_event_height <= 1.0:
        raise ConfigError(f"events.min_event_height={rules.min_event_height} must be a fraction of the frame height")
    if rules.size_window < 1:
        raise ConfigError(f"events.size_window={rules.size_window} must be >= 1 frame")
    if gap[0] > video.target_frames + video.context_frames - 2:
        raise ConfigError(f"events.hidden_gap={list(gap)} cannot fit in a clip of {video.num_frames} frames")
    return rules


def tracked_speed_range(subject: SubjectSpec, pace: tuple[float, float]) -> tuple[float, float]:
    """The camera walks at the subject's speed: draw it where the subject's range meets the walking pace, or at
    the subject's own bound nearest to that pace when they do not meet (a runner stays a runner)."""
    lo, hi = max(subject.speed[0], pace[0]), min(subject.speed[1], pace[1])
    if lo <= hi:
        return lo, hi
    v = subject.speed[0] if subject.speed[0] > pace[1] else subject.speed[1]
    return v, v


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
    scene = ctx.scenes[rng.integers(len(ctx.scenes))]
    count = int(rng.choice(st.subjects_per_clip, p=np.asarray(st.subjects_per_clip_weights) / sum(st.subjects_per_clip_weights)))
    chosen = [ctx.subjects[i] for i in rng.choice(len(ctx.subjects), size=count, replace=False)]
    cam_traj = ctx.camera_trajectories[rng.integers(len(ctx.camera_trajectories))]
    hfov = float(rng.uniform(*st.hfov_deg))
    intr = Intrinsics.from_hfov(video.width, video.height, hfov)
    direction = "left" if rng.random() < 0.5 else "right"
    if cam_traj.kind == "track":
        shot = _tracking_shot(rng, ctx, scene, chosen[0], cam_traj, hfov, direction)
        if isinstance(shot, Rejection):
            return shot
        main, c2w = shot
    else:
        traj = ctx.subject_trajectories[rng.integers(len(ctx.subject_trajectories))]
        main = _place_subject(rng, scene, chosen[0], traj, 1, num_f, ctx.duration, st, [])
        if main is None:
            return Rejection("placement:subject_does_not_fit")
        c2w = _camera_path(rng, scene, cam_traj, chosen[0], main, direction, num_f)
        if c2w is None:
            return Rejection("placement:camera_leaves_scene")
    tracks = [main]
    cam0 = c2w[0, :3, 3]
    sight = main.positions[0, :2] - cam0[:2]
    dist = float(np.hypot(*sight))
    bearing = float(np.arctan2(sight[1], sight[0]))
    half = float(silhouette_half_width(*ctx.footprint(chosen[0]), main.headings[0], bearing))
    view = _FirstView(c2w[:, :3, 3], float(np.arctan2(c2w[0, 1, 2], c2w[0, 0, 2])), np.radians(hfov) / 2,
                      bearing, np.arctan2(half, dist) + np.radians(4.0))
    for k, subject in enumerate(chosen[1:], start=2):
        traj = ctx.subject_trajectories[rng.integers(len(ctx.subject_trajectories))]
        track = _place_subject(rng, scene, subject, traj, k, num_f, ctx.duration, st, tracks, view)
        if track is None:
            return Rejection("placement:subject_does_not_fit")
        tracks.append(track)
    return ClipSpec(
        clip_id=clip_id_for(ctx.partition, ctx.seed, slot), seed=ctx.seed, slot=slot, attempt=attempt,
        partition=ctx.partition, scene=scene.name, video=video, intrinsics=intr, camera_trajectory=cam_traj.name,
        camera_direction=direction, camera_c2w=c2w, subjects=tracks,
    )


@dataclass(frozen=True)
class _FirstView:
    """Where further subjects may start: inside the first frame's view, clear of the camera's path."""

    camera_xy: np.ndarray  # [F, 3] camera positions (the path they must not walk through)
    yaw: float  # the first frame's viewing direction
    half_fov: float  # radians
    main_bearing: float  # the main subject's bearing and angular half-width: nobody starts hidden behind it
    main_half_angle: float


def _scene_props(scene: SceneSpec) -> np.ndarray:
    """[P, 8]: x, y, footprint radius, then the footprint's oriented box (centre x, y, half-extents, angle) of
    props drawn as meshes (props_style=asset: hmworld.assets.scenery.MeshProp); zero half-extents mean the
    circle alone (primitive props)."""
    rows = [[p.position[0], p.position[1], p.footprint_radius, *(getattr(p, "box", None) or (0.0,) * 5)]
            for p in scene.props]
    return np.array(rows, float).reshape(-1, 8)


def box_distance(points: np.ndarray, boxes: np.ndarray) -> np.ndarray:
    """[N, B] plan distance from points [N, 2] to oriented boxes [B, 5] (centre x, y, half-extents, angle);
    0 inside."""
    rel = points[:, None, :] - boxes[None, :, :2]
    c, s = np.cos(boxes[:, 4]), np.sin(boxes[:, 4])
    along, across = rel[..., 0] * c + rel[..., 1] * s, -rel[..., 0] * s + rel[..., 1] * c
    return np.hypot(np.maximum(np.abs(along) - boxes[:, 2], 0.0), np.maximum(np.abs(across) - boxes[:, 3], 0.0))


def _clear_of_props(points: np.ndarray, props: np.ndarray, clearance: float) -> bool:
    if not len(props):
        return True
    d = np.linalg.norm(points[:, None, :] - props[None, :, :2], axis=-1)
    near = d < props[None, :, 2] + clearance
    boxed = props[:, 5] > 0
    if boxed.any():  # mesh props: the footprint box itself, not its bounding circle
        near[:, boxed] = box_distance(points, props[boxed, 3:]) < clearance
    return not np.any(near)


def _tracking_shot(rng, ctx: CompositionContext, scene: SceneSpec, subject: SubjectSpec,
                   cam_traj: CameraTrajectorySpec, hfov: float, direction: str) -> tuple[SubjectTrack, np.ndarray] | Rejection:
    """The main subject's walk and a camera that moves with it, then pans away and back on the planned frames."""
    t, video, st = ctx.tracking, ctx.video, ctx.settings
    num_f, c = video.num_frames, video.context_frames
    scale = c / REFERENCE_CONTEXT
    traj = ctx.tracking_trajectories[rng.integers(len(ctx.tracking_trajectories))]
    speed = float(rng.uniform(*tracked_speed_range(subject, t.pace)))
    length = max(speed * ctx.duration * moving_fraction(traj), 1e-3)
    local = path_shape(traj, length, rng)
    frac = distance_profile(traj, num_f)
    walk_xy, walk_heading = sample_path(local, frac)
    dist = max(float(rng.uniform(*t.distance)) * size_scale(subject.height), subject.radius + 0.4)
    cam_z = float(np.clip(subject.height * rng.uniform(*t.height_ratio), *t.height))
    offset = dist * np.asarray(MODE_OFFSET[cam_traj.mode])
    if cam_traj.mode == "alongside" and rng.random() < 0.5:
        offset = -offset  # walk on the subject's right instead of its left
    # The camera copies the subject's steps on its own clock, so it can slow down and stand still. Only a
    # camera behind the subject stops: one ahead of it or beside it would be walked into or walked past.
    stops = cam_traj.mode == "follow" and rng.random() < t.camera_stop_probability
    stop_frame = float(rng.uniform(*t.camera_stop_frame)) * scale if stops else None
    cam_local = interp_path(walk_xy, stop_time_warp(num_f, stop_frame, t.stop_ramp_frames * scale)) + offset
    placed = _place_walk(rng, scene, walk_xy, cam_local, subject, st)
    if placed is None:
        return Rejection("placement:tracking_shot_does_not_fit")
    rot, shift, theta = placed
    subj_xy, cam_xy = walk_xy @ rot.T + shift, cam_local @ rot.T + shift
    heading = walk_heading + theta
    sight = subj_xy - cam_xy
    bearing = np.unwrap(np.arctan2(sight[:, 1], sight[:, 0]))
    yaw_base = smooth_angles(bearing, 9)
    # the pan: timed so the subject's silhouette leaves the view at `exit_frame` and is back at `entry_frame`
    sign = 1.0 if direction == "left" else -1.0
    framing = float(rng.uniform(*t.framing_deg))
    exit_frame = float(rng.uniform(*t.exit_frame)) * scale
    gap_lo = max(t.hidden_gap[0] * scale, ctx.rules.hidden_gap[0] + 1.0, c + 1.0 - exit_frame)
    gap_hi = min(t.hidden_gap[1] * scale, ctx.rules.hidden_gap[1] - 1.0)
    if gap_lo > gap_hi:  # this exit is too early for any allowed gap to reach the target half
        return Rejection("timing:no_gap_fits")
    entry_frame = exit_frame + float(rng.uniform(gap_lo, gap_hi))
    rates = rng.uniform(*t.pan_rate, size=2) / scale
    overshoot, residual = float(rng.uniform(*t.overshoot_deg)), float(rng.uniform(*t.return_residual_deg))

    def edge_angle(frame: float) -> float:
        """Pan angle at which the subject's far edge reaches the edge of the view at `frame`."""
        i = int(np.clip(round(frame), 0, num_f - 1))
        d = float(np.hypot(*sight[i]))
        half = float(silhouette_half_width(*ctx.footprint(subject), heading[i], bearing[i]))
        # the pan also turns away from the slowly drifting bearing; measure from where the camera looks
        drift = np.degrees(bearing[i] - yaw_base[i]) * sign
        return hfov / 2 + np.degrees(np.arctan2(half, d)) - framing + drift

    # a degree of margin: a sliver of pixels at the edge still counts as visible
    plan = plan_pan(edge_angle(exit_frame) + EDGE_MARGIN_DEG, edge_angle(entry_frame) - EDGE_MARGIN_DEG, exit_frame,
                    entry_frame, float(rates[0]), float(rates[1]), overshoot, residual)
    if plan is None:
        return Rejection("timing:pan_does_not_fit")
    yaw = yaw_base + sign * np.radians(framing + plan.angles(np.arange(num_f, dtype=float)))
    pos = np.concatenate([cam_xy, np.full((num_f, 1), cam_z)], axis=1)
    c2w = c2w_from_forward(pos, forward_from_angles(yaw, np.zeros(num_f)))
    positions = np.concatenate([subj_xy, np.zeros((num_f, 1))], axis=1)
    track = SubjectTrack(1, subject.name, traj.name, speed, positions, heading, frac * length / subject.stride)
    return track, c2w


def _place_walk(rng, scene: SceneSpec, walk_xy: np.ndarray, cam_xy: np.ndarray, subject: SubjectSpec,
                st: CompositorSettings) -> tuple[np.ndarray, np.ndarray, float] | None:
    """A rotation and shift that keep the subject's walk inside the walkable area and clear of props, and the
    camera's path inside the scene and clear of props and walls."""
    xmin, ymin, xmax, ymax = scene.walkable_bounds(st.scene_margin + subject.radius)
    hx, hy = scene.extent[0] / 2 - CAMERA_CLEARANCE, scene.extent[1] / 2 - CAMERA_CLEARANCE
    props = _scene_props(scene)
    step = max(1, len(walk_xy) // 64)
    walk, cam = walk_xy[::step], cam_xy[::step]
    for _ in range(st.placement_tries):
        theta = float(rng.uniform(0, 2 * np.pi))
        rot = np.array([[np.cos(theta), -np.sin(theta)], [np.sin(theta), np.cos(theta)]])
        w, k = walk @ rot.T, cam @ rot.T
        lo_x = max(xmin - w[:, 0].min(), -hx - k[:, 0].min())
        hi_x = min(xmax - w[:, 0].max(), hx - k[:, 0].max())
        lo_y = max(ymin - w[:, 1].min(), -hy - k[:, 1].min())
        hi_y = min(ymax - w[:, 1].max(), hy - k[:, 1].max())
        if lo_x > hi_x or lo_y > hi_y:
            continue
        shift = np.array([rng.uniform(lo_x, hi_x), rng.uniform(lo_y, hi_y)])
        if _clear_of_props(w + shift, props, subject.radius) and _clear_of_props(k + shift, props, CAMERA_CLEARANCE):
            return rot, shift, theta
    return None


def _place_subject(rng, scene: SceneSpec, subject: SubjectSpec, traj: SubjectTrajectorySpec, instance_id: int,
                   num_f: int, duration: float, st: CompositorSettings, others: list[SubjectTrack],
                   view: _FirstView | None = None) -> SubjectTrack | None:
    """A subject walking `traj` inside the scene, clear of props and of the other subjects. With `view`, it
    starts inside the first frame's view and keeps clear of the camera's path."""
    speed = float(rng.uniform(*subject.speed))
    length = max(speed * duration * moving_fraction(traj), 1e-3)
    local = path_shape(traj, length, rng)
    frac = distance_profile(traj, num_f)
    xmin, ymin, xmax, ymax = scene.walkable_bounds(st.scene_margin + subject.radius)
    props = _scene_props(scene)
    check = local[:: max(1, len(local) // 64)]
    for _ in range(st.placement_tries):
        theta = rng.uniform(0, 2 * np.pi)
        rot = np.array([[np.cos(theta), -np.sin(theta)], [np.sin(theta), np.cos(theta)]])
        pts = check @ rot.T
        if view is None:
            lo_x, hi_x = xmin - pts[:, 0].min(), xmax - pts[:, 0].max()
            lo_y, hi_y = ymin - pts[:, 1].min(), ymax - pts[:, 1].max()
            if lo_x > hi_x or lo_y > hi_y:
                continue
            offset = np.array([rng.uniform(lo_x, hi_x), rng.uniform(lo_y, hi_y)])
        else:  # the path starts at a point inside the first view (local paths start at the origin)
            bearing = view.yaw + rng.uniform(-0.8, 0.8) * view.half_fov
            if abs((bearing - view.main_bearing + np.pi) % (2 * np.pi) - np.pi) < view.main_half_angle:
                continue
            reach = float(rng.uniform(*st.others_distance)) * max(size_scale(subject.height), 0.5)
            offset = view.camera_xy[0, :2] + reach * np.array([np.cos(bearing), np.sin(bearing)])
        world = pts + offset
        if not (np.all((world[:, 0] >= xmin) & (world[:, 0] <= xmax) & (world[:, 1] >= ymin) & (world[:, 1] <= ymax))
                and _clear_of_props(world, props, subject.radius)):
            continue
        xy, heading = sample_path(local @ rot.T + offset, frac)
        if any(np.any(np.linalg.norm(xy - o.positions[:, :2], axis=1) < subject.radius + 0.6) for o in others):
            continue  # subjects never walk through each other
        if view is not None and np.any(np.linalg.norm(xy - view.camera_xy[:, :2], axis=1) < subject.radius + 0.5):
            continue  # nor into the camera
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
    props = _scene_props(scene)
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
        if inside and _clear_of_props(pos[:, :2], props, CAMERA_CLEARANCE):
            return c2w_from_forward(pos, forward_from_angles(yaw, pitch), roll)
    return None
