"""`hmworld render` as a library call: config -> split on disk, resumable and shardable.

Clip `slot` of the split tries candidates attempt = 0, 1, ... (each a pure function of config, seed, slot
and attempt) until one passes the geometric pre-filter and then the rendered masks show an exit-entry event.
A finished clip is never rendered again; a killed run re-creates exactly the candidates it was working on.
"""
from __future__ import annotations

import hashlib
import json
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

import numpy as np
from omegaconf import DictConfig, OmegaConf

from hmworld import __version__
from hmworld.annotations import camera_file, mask_boxes, subject_boxes, subjects_file
from hmworld.assets.scenery import scenery_catalog_from_config, scenery_provenance
from hmworld.body import BodyModel, PrimitiveBodies, body_model_from_config
from hmworld.captioners import Captioner, build_captioner
from hmworld.captioners.facts import caption_request
from hmworld.catalog import Catalog, load_catalog
from hmworld.clipspec import ClipSpec
from hmworld.compositor import CompositionContext, Rejection, clip_id_for, compose
from hmworld.errors import ConfigError, RenderFailure, SplitError
from hmworld.events import REASONS, EventRules, PrefilterBatch, events_from_visibility, pixel_counts, prefilter
from hmworld.fsutil import sha256_file, write_json
from hmworld.progress import NO_COUNT, SILENT, Progress
from hmworld.render import build_renderer
from hmworld.render.base import Renderer
from hmworld.split.format import CLIP_FILES, ClipRecord
from hmworld.split.writer import SplitWriter
from hmworld.video import EncoderSettings, VideoWriter

# Keys that say where or how a run executes, not what the split is. `renderer.runtime` holds a backend's
# connection and launch settings (host, port, binary, timeouts), which never change the pixels.
RUN_ONLY_KEYS = ("out", "shard", "num_shards", "progress", "failures", "renderer.runtime")


@dataclass
class RenderSettings:
    rules: EventRules
    max_attempts: int
    prefilter: bool
    fill_factor: float
    occluders: bool
    save_depth: bool
    encoder: EncoderSettings
    max_retries_per_clip: int = 3


@dataclass
class RenderReport:
    out: Path
    shard: int
    num_shards: int
    slots: int = 0  # clips this shard owns
    written: int = 0  # rendered by this run
    already_done: int = 0  # found complete on disk
    candidates: int = 0
    rejections: Counter = field(default_factory=Counter)
    prefilter_passed: int = 0
    frames: int = 0
    render_seconds: float = 0.0
    wall_seconds: float = 0.0
    render_failures: int = 0  # renderer failures that were retried (a clip restarts from its first frame)
    failed_clips: list[str] = field(default_factory=list)  # gave up after max_retries_per_clip
    split_info: dict = field(default_factory=dict)

    @property
    def mask_rejected(self) -> int:
        return sum(n for reason, n in self.rejections.items() if reason.startswith("masks:"))

    @property
    def prefilter_precision(self) -> float | None:
        return None if not self.prefilter_passed else 1.0 - self.mask_rejected / self.prefilter_passed

    @property
    def fps(self) -> float:
        return self.frames / self.render_seconds if self.render_seconds else 0.0


def catalog_digest(ctx: CompositionContext) -> str:
    """Hash of every catalog entry the split can draw from: editing one changes the split's identity."""
    parts = [repr(x) for x in (ctx.scenes, ctx.subjects, ctx.subject_trajectories, ctx.camera_trajectories)]
    return hashlib.sha256("\n".join(parts).encode()).hexdigest()[:16]


def identity_config(cfg: DictConfig, ctx: CompositionContext, assets: dict | None = None) -> dict:
    """`assets`: third-party art the body model draws (BodyModel.provenance: packages, licences, credit),
    recorded in split.json and part of the identity; absent for our own primitive bodies."""
    d = OmegaConf.to_container(cfg, resolve=True)
    for key in RUN_ONLY_KEYS:
        *parents, leaf = key.split(".")
        node = d
        for p in parents:
            node = node.get(p, {})
        node.pop(leaf, None)
    d["catalog_digest"] = catalog_digest(ctx)
    if assets is not None:
        d["assets"] = assets
    return json.loads(json.dumps(d))  # plain JSON types, as stored in split.json


def settings_from_config(cfg: DictConfig, ctx: CompositionContext) -> RenderSettings:
    v = cfg.video
    return RenderSettings(
        rules=ctx.rules,
        max_attempts=int(cfg.compositor.max_attempts), prefilter=bool(cfg.prefilter.enabled),
        fill_factor=float(cfg.prefilter.fill_factor), occluders=bool(cfg.prefilter.occluders),
        save_depth=bool(cfg.output.save_depth),
        encoder=EncoderSettings(crf=int(v.crf), preset=str(v.preset)),
        max_retries_per_clip=int(cfg.failures.max_retries_per_clip),
    )


class ClipFailed(Exception):
    """Internal: the renderer kept failing on one clip; the job records it and goes on."""

    def __init__(self, clip_id: str, message: str):
        super().__init__(f"clip {clip_id}: {message}")
        self.clip_id = clip_id


class ClipRenderer:
    """Renders one clip slot: candidates until one is kept, written atomically through the SplitWriter."""

    def __init__(self, ctx: CompositionContext, catalog: Catalog, renderer: Renderer, captioner: Captioner,
                 writer: SplitWriter, settings: RenderSettings, bodies: BodyModel | None = None):
        self.ctx, self.catalog, self.renderer, self.captioner = ctx, catalog, renderer, captioner
        self.writer, self.settings = writer, settings
        self.bodies = bodies if bodies is not None else PrimitiveBodies(catalog)  # the renderer's body model

    def render_slot(self, slot: int, report: RenderReport, on_frame: Callable[[], None] = NO_COUNT.advance) -> ClipRecord:
        rejections: Counter = Counter()
        s = self.settings
        for attempt in range(s.max_attempts):
            report.candidates += 1
            spec = compose(self.ctx, slot, attempt)
            if isinstance(spec, Rejection):
                rejections[spec.reason] += 1
                continue
            if s.prefilter:
                batch = PrefilterBatch.from_specs([spec], self.catalog.scenes, self.catalog.subjects,
                                                  self.bodies.footprint_half_axes)
                ok, reason = prefilter(batch, spec.video.context_frames, spec.video.width, spec.video.height,
                                       s.rules, s.fill_factor, s.occluders)
                if not ok[0]:
                    rejections["prefilter:" + REASONS[int(reason[0])]] += 1
                    continue
                report.prefilter_passed += 1
            record = self._render_with_retries(spec, rejections, report, on_frame)
            if isinstance(record, ClipRecord):
                report.rejections.update(rejections)
                return record
            rejections["masks:" + REASONS[record]] += 1
        report.rejections.update(rejections)
        raise SplitError(f"clip {clip_id_for(self.ctx.partition, self.ctx.seed, slot)}: none of "
                         f"{s.max_attempts} candidates had an exit-entry event ({dict(rejections)}); widen the "
                         "catalog selection or raise compositor.max_attempts")

    def _render_with_retries(self, spec: ClipSpec, rejections: Counter, report: RenderReport,
                             on_frame: Callable[[], None]) -> ClipRecord | int:
        """A failed render is discarded whole and the same candidate starts again from its first frame."""
        for retry in range(self.settings.max_retries_per_clip + 1):
            try:
                return self._render_candidate(spec, rejections, report, on_frame)
            except RenderFailure as exc:
                report.render_failures += 1
                last = exc
        raise ClipFailed(spec.clip_id, f"{self.settings.max_retries_per_clip + 1} tries failed; last error: {last}")

    def _render_candidate(self, spec: ClipSpec, rejections: Counter, report: RenderReport,
                          on_frame: Callable[[], None]) -> ClipRecord | int:
        """The written clip's record, or the REASONS code for which its masks show no event."""
        s, v = self.settings, spec.video
        tmp = self.writer.begin_clip(spec.clip_id)
        try:
            instances = np.zeros((spec.num_frames, v.height, v.width), np.uint8)
            depth = np.zeros((spec.num_frames, v.height, v.width), np.float16) if s.save_depth else None
            start = time.perf_counter()
            with VideoWriter(tmp / CLIP_FILES["video_path"], v.width, v.height, v.fps, s.encoder) as video:
                for f, frame in enumerate(self.renderer.render(spec)):
                    video.write(frame.rgb)
                    instances[f] = frame.instances
                    if depth is not None:
                        depth[f] = frame.depth
                    on_frame()
            if video.frames != spec.num_frames:
                raise RuntimeError(f"renderer {self.renderer.name} gave {video.frames} of {spec.num_frames} frames")
            ids = [t.instance_id for t in spec.subjects]
            counts = pixel_counts(instances, ids)
            visible_boxes = [mask_boxes(instances, i) for i in ids]
            box_height = np.stack([np.nan_to_num(b[:, 3] - b[:, 1]) for b in visible_boxes], axis=1) / v.height
            events = events_from_visibility(counts >= s.rules.min_visible_pixels, box_height, ids, v.context_frames,
                                            s.rules)
            report.frames += spec.num_frames
            if not events.has_event:
                report.render_seconds += time.perf_counter() - start
                self.writer.abort_clip(tmp)
                return events.reason
            record = self._write_annotations(tmp, spec, instances, counts, visible_boxes, events, depth, rejections)
            self.writer.commit_clip(tmp, record)
            report.render_seconds += time.perf_counter() - start
            return record
        except BaseException:
            self.writer.abort_clip(tmp)
            raise

    def _write_annotations(self, tmp: Path, spec: ClipSpec, instances, counts, visible, events, depth,
                           rejections) -> ClipRecord:
        full = subject_boxes(spec, self.catalog, self.bodies)
        write_json(tmp / CLIP_FILES["camera_path"], camera_file(spec).to_json())
        subjects = subjects_file(spec, self.catalog, full, visible, counts)
        write_json(tmp / CLIP_FILES["subjects_path"], subjects.to_json())
        write_json(tmp / CLIP_FILES["events_path"], events.file.to_json())
        write_json(tmp / CLIP_FILES["clipspec_path"], spec.to_dict())
        np.savez_compressed(tmp / CLIP_FILES["instances_path"], instances=instances)
        if depth is not None:
            np.savez_compressed(tmp / "depth.npz", depth=depth)
        # The caption names only subjects the masks show (events.subjects) and describes motion from the poses.
        caption = self.captioner.caption([caption_request(spec, self.catalog, events.subjects,
                                                          tmp / CLIP_FILES["video_path"])])[0]
        flat_events = [{"instance_id": iid, **e.to_json()} for iid, e in events.file.events()]
        v = spec.video
        return ClipRecord(
            clip_id=spec.clip_id, scene=spec.scene, partition=spec.partition,
            subjects=[t.name for t in spec.subjects], trajectories=[t.trajectory for t in spec.subjects],
            camera_trajectory=spec.camera_trajectory, seed=spec.seed, slot=spec.slot, attempt=spec.attempt,
            width=v.width, height=v.height, fps=v.fps, context_frames=v.context_frames, target_frames=v.target_frames,
            events=json.dumps(flat_events), caption=caption, caption_source=self.captioner.name,
            video_sha256=sha256_file(tmp / CLIP_FILES["video_path"]),
            instances_sha256=sha256_file(tmp / CLIP_FILES["instances_path"]),
            extra={"rejections": dict(rejections), "hmworld_version": __version__},
        )


def validate_run(cfg: DictConfig) -> tuple[int, int, int]:
    num_clips, shard, num_shards = int(cfg.num_clips), int(cfg.shard), int(cfg.num_shards)
    if num_clips < 0:
        raise ConfigError(f"num_clips={num_clips} must be >= 0")
    if num_shards < 1 or not 0 <= shard < num_shards:
        raise ConfigError(f"shard={shard} must be within [0, num_shards={num_shards})")
    if OmegaConf.is_missing(cfg, "out"):
        raise ConfigError("out=DIR is required: the split folder to write")
    return num_clips, shard, num_shards


def run_render(cfg: DictConfig, progress: Progress = SILENT) -> RenderReport:
    """Validate everything, then render this shard's missing clips and finalise the split.

    `progress` (hmworld.progress; the CLI passes rich bars) counts "rendering clips" and "frames".
    """
    wall = time.perf_counter()
    num_clips, shard, num_shards = validate_run(cfg)
    # props as the renderer draws them (renderer.props_style): mesh props' footprints for placement and occlusion
    catalog = scenery_catalog_from_config(cfg.renderer, load_catalog(list(cfg.catalog_dirs)))
    ctx = CompositionContext.from_config(catalog, cfg)
    # subjects' shapes as the renderer draws them: the compositor's pan timing, the pre-filter and the boxes
    bodies = body_model_from_config(cfg.renderer, catalog)
    ctx.footprint = bodies.footprint_half_axes
    settings = settings_from_config(cfg, ctx)
    captioner = build_captioner(cfg.captioner)
    assets = bodies.provenance() or scenery_provenance(cfg.renderer)  # the same art package either way
    writer = SplitWriter(Path(str(cfg.out)), identity_config(cfg, ctx, assets), num_clips).open()
    report = RenderReport(Path(str(cfg.out)), shard, num_shards)
    slots = [j for j in range(num_clips) if j % num_shards == shard]
    report.slots = len(slots)
    todo = [j for j in slots if not writer.has_clip(clip_id_for(ctx.partition, ctx.seed, j))]
    report.already_done = len(slots) - len(todo)
    writer.remove_stale(clip_id_for(ctx.partition, ctx.seed, j) for j in todo)
    if todo:
        with build_renderer(cfg.renderer, catalog, read_depth=settings.save_depth) as renderer:
            job = ClipRenderer(ctx, catalog, renderer, captioner, writer, settings, bodies)
            with progress.start("rendering clips", len(todo)) as clips, progress.start("frames") as frames:
                for slot in todo:
                    try:
                        job.render_slot(slot, report, frames.advance)
                        report.written += 1
                    except ClipFailed as exc:
                        report.failed_clips.append(exc.clip_id)
                    clips.advance()
    captioner.close()
    report.split_info = writer.finalize(failed=report.failed_clips)
    report.wall_seconds = time.perf_counter() - wall
    return report
