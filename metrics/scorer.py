"""The per-clip entry: compute a chosen set of metrics on one clip, each video decoded once."""
from __future__ import annotations

import math
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Mapping, Optional, Sequence, Union

import numpy as np

from .consistency import background_consistency, subject_consistency
from .conventions import CONVENTION_VERSION, CONVENTIONS
from .dsc import DSCConfig, dsc
from .frames import MetricInputError, check_pair, check_video, decode_video, video_rate
from .perceptual import lpips
from .pixel import psnr, ssim
from .registry import COLUMN, GROUP, MASKED_REGIONS, group_names, value_keys

ALL_METRICS = group_names()
# The value keys each metric contributes to ClipScore.values (registry.py).
VALUE_KEYS = value_keys()


@dataclass(frozen=True)
class ClipScore:
    """Scores of one clip with the conventions they follow.

    values: metric -> number (None where a metric has nothing to score, e.g. DSC on a clip without re-entry).
    details: counts needed to aggregate a split as the conventions say, and diagnostics (capped PSNR frames,
    DSC misses ...). seconds: wall time per metric (and decode) for this clip.
    """

    values: dict[str, Optional[float]]
    details: dict[str, Any]
    conventions: dict[str, str]
    convention_version: str
    seconds: dict[str, float] = field(default_factory=dict)
    clip_id: Optional[str] = None


def _check_metrics(metrics: Sequence[str]) -> tuple[str, ...]:
    unknown = [m for m in metrics if m not in ALL_METRICS]
    if unknown:
        raise ValueError(f"unknown metric(s) {unknown}; choose from {list(ALL_METRICS)}")
    return tuple(dict.fromkeys(metrics))


def score_clip(pred: np.ndarray, target: np.ndarray, context: Optional[np.ndarray] = None, *,
               metrics: Sequence[str] = ALL_METRICS, events: Optional[Mapping[str, Any]] = None,
               subjects: Optional[Mapping[str, Any]] = None, models=None,
               dsc_config: DSCConfig = DSCConfig(), clip_id: Optional[str] = None,
               instances: Optional[np.ndarray] = None) -> ClipScore:
    """Score one clip from decoded arrays: pred/target are the target halves, context the ground-truth context.

    `models` is a MetricModels (models.py) shared across clips; None uses the process-wide default.
    `instances`: the ground truth's instance masks of the whole clip ``[context + target, H, W]`` (the masked
    metrics; None: the clip has none, e.g. imported from the official release, and they are not applicable).
    """
    metrics = _check_metrics(metrics)
    check_pair(pred, target)
    if "dsc" in metrics:
        if context is None or events is None:
            raise MetricInputError("DSC needs the ground-truth context frames and events.json (and subjects.json)")
        check_video(context, "context")
    if models is None and any(GROUP[m].weights for m in metrics):
        from .models import default_models

        models = default_models()

    values: dict[str, Optional[float]] = {}
    details: dict[str, Any] = {"frames": int(pred.shape[0])}
    seconds: dict[str, float] = {}
    for m in metrics:
        start = time.perf_counter()
        if m == "psnr":
            r = psnr(pred, target)
            values["psnr"] = r.value
            details["psnr_capped_frames"] = r.capped_frames
            details["psnr_cap_db"] = r.cap_db
        elif m == "ssim":
            values["ssim"] = ssim(pred, target).value
        elif m == "lpips":
            values["lpips"] = lpips(pred, target, model=models.get_lpips()).value
        elif m in ("subject_consistency", "background_consistency"):
            fn, model = ((subject_consistency, models.get_dino()) if m == "subject_consistency"
                         else (background_consistency, models.get_clip()))
            r = fn(pred, model=model)
            values[m] = r.value
            details[f"{m}_total"] = r.total        # the split figure is sum(total) / sum(count)
            details[f"{m}_count"] = r.count
        elif m == "dsc":
            r = dsc(pred, target, context, events, subjects, config=dsc_config, models=models)
            values.update(dsc_gt=r.dsc_gt, dsc_ctx=r.dsc_ctx, dsc_miss_rate=r.miss_rate)
            details.update(dsc_mode=r.mode, dsc_terms=r.terms, dsc_misses=r.misses, dsc_gt_terms=r.gt_terms,
                           dsc_ctx_terms=r.ctx_terms, dsc_displaced=r.displaced, dsc_absent=r.absent,
                           dsc_presence_unjudged=r.unjudged, dsc_detector=r.detector)
        elif m == "masked":
            _masked(pred, target, instances, events, subjects, values, details)
        seconds[m] = time.perf_counter() - start
    conventions = {k: CONVENTIONS[k] for k in ("input", "decode", "scope", *metrics, "aggregation")}
    return ClipScore(values, details, conventions, CONVENTION_VERSION, seconds, clip_id)


def _masked(pred, target, instances, events, subjects, values: dict, details: dict) -> None:
    """The masked re-entry metrics into values/details; details["masked_events_list"] holds the per-event records
    (instance_id, exit_frame, entry_frame, gap_frames, frames, values{column}). Without masks or events.json the
    clip is not applicable: every value None, details["masked_applicable"] False with the reason."""
    from .masked import reentry_scores

    keys = GROUP["masked"].columns
    values.update({k: None for k in keys})
    if instances is None or events is None:
        details.update(masked_applicable=False, masked_reason=("no instance masks" if instances is None
                                                               else "no events.json"),
                       masked_events=0, masked_frames=0, masked_events_list=[])
        return
    context_frames = int(np.asarray(instances).shape[0]) - int(pred.shape[0])
    if context_frames < 0:
        raise MetricInputError(f"instances: {np.asarray(instances).shape[0]} frames, fewer than the "
                               f"{pred.shape[0]} target frames")
    r = reentry_scores(pred, target, instances, events, subjects, context_frames)
    for region, prefix in MASKED_REGIONS.items():
        for m in ("psnr", "ssim"):
            values[f"{prefix}_{m}"] = r.values[f"{region}_{m}"]
    events_list = []
    for e in r.events:
        ev = {f"{MASKED_REGIONS[reg]}_{m}": getattr(e, m)[reg] for reg in MASKED_REGIONS for m in ("psnr", "ssim")}
        events_list.append({"instance_id": e.instance_id, "exit_frame": e.exit_frame, "entry_frame": e.entry_frame,
                            "gap_frames": e.gap_frames, "frames": e.frames,
                            "values": {k: ev[k] for k in keys if k in COLUMN}})
    details.update(masked_applicable=True, masked_events=int(r.values["events"]),
                   masked_frames=int(r.values["frames"]), masked_events_list=events_list)


@dataclass(frozen=True)
class ClipVideos:
    """One clip's decoded halves: prediction and ground truth of the target half, ground-truth context."""

    pred: np.ndarray
    target: np.ndarray
    context: np.ndarray
    decode_seconds: float


def load_clip_videos(pred_path: Union[str, Path], gt_path: Union[str, Path], context_frames: int,
                     pred_includes_context: bool) -> ClipVideos:
    """Decode a submission video and the ground-truth video once each and split them into halves."""
    start = time.perf_counter()
    # Same frame rate on both sides: a prediction at another rate is another video, never compared frame by frame.
    rates = (video_rate(pred_path), video_rate(gt_path))
    if None in rates or abs(rates[0] - rates[1]) > 1e-3 * max(1.0, rates[1]):
        raise MetricInputError(f"{pred_path}: {rates[0] or 'unknown'} fps, the ground truth {gt_path} is "
                               f"{rates[1] or 'unknown'} fps")
    gt = decode_video(gt_path)
    pred = decode_video(pred_path)
    if gt.shape[0] <= context_frames:
        raise MetricInputError(f"{gt_path}: {gt.shape[0]} frames, expected more than {context_frames} context frames")
    target = gt[context_frames:]
    if pred_includes_context:
        pred = pred[context_frames:]
    if pred.shape[0] != target.shape[0]:
        raise MetricInputError(f"{pred_path}: {pred.shape[0]} target frames, ground truth has {target.shape[0]} "
                               f"(includes_context={pred_includes_context})")
    return ClipVideos(pred, target, gt[:context_frames], time.perf_counter() - start)


def score_clip_files(pred_path, gt_path, *, context_frames: int, pred_includes_context: bool = False,
                     **kwargs) -> ClipScore:
    """score_clip on video files: each file is decoded once and the arrays are shared by every metric."""
    videos = load_clip_videos(pred_path, gt_path, context_frames, pred_includes_context)
    score = score_clip(videos.pred, videos.target, videos.context, **kwargs)
    score.seconds["decode"] = videos.decode_seconds
    return score


def aggregate(scores: Sequence[ClipScore]) -> dict[str, Optional[float]]:
    """Split-level figures as the conventions say: per-video means averaged over videos, except the VBench
    consistency metrics, which are frame-weighted (sum of all terms / number of terms) as vbench reports."""
    versions = {s.convention_version for s in scores}
    if len(versions) > 1:
        raise ValueError(f"cannot aggregate scores made under different convention versions {sorted(versions)}")
    out: dict[str, Optional[float]] = {}
    keys = [k for m in ALL_METRICS for k in VALUE_KEYS[m]]
    for key in keys:
        if COLUMN[key].frame_weighted:
            pairs = [(s.details[f"{key}_total"], s.details[f"{key}_count"]) for s in scores
                     if s.values.get(key) is not None]
            count = sum(c for _, c in pairs)
            if pairs:
                out[key] = sum(t for t, _ in pairs) / count if count else None
            continue
        vals = [s.values[key] for s in scores if s.values.get(key) is not None]
        if vals:
            assert all(math.isfinite(v) for v in vals), f"non-finite {key} in clip scores"
            out[key] = float(np.mean(vals))
    return out
