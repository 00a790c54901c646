"""Reference predictors: the floors a video-prediction leaderboard needs, written as normal submissions.

    repeat-last    every target frame is the last context frame (a model that stops time)
    mean-context   every target frame is the per-pixel mean of the context frames (a blurry average)
    nearest-view   every target frame is the context frame its camera sees most of (a memory without a model:
                   it recalls the past view the target camera looks at again, nothing moves in it)

The first two ignore the target cameras; nearest-view uses them as a world model would (they are part of the
input), ranking context frames by the field-of-view overlap of `hmworld.model.fov` (the `fov` retrieval mode's
ranking), so it scores what pure recall of the past views buys on each metric, re-entry frames above all.

`predict_baseline(name, split, out)` writes `<clip_id>.mp4` (target frames only, includes_context: false) and
then submission.yaml through the submission module, so a folder without submission.yaml is unfinished.
Each video is written to a temporary name and renamed, so a killed run resumes with the clips it lacks; the
encoder is deterministic, so reruns give byte-identical files (and the same submission id).
"""
from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Callable

import numpy as np

from hmworld.benchmark.errors import BenchmarkError
from hmworld.progress import SILENT, Progress

if TYPE_CHECKING:  # the split reader (pandas), PyAV and torch load only when predicting: PREDICTORS stays light
    from hmworld.split.reader import Clip


def repeat_last(context: np.ndarray, clip: Clip) -> np.ndarray:
    return np.repeat(context[-1:], clip.target_frames, axis=0)


def mean_context(context: np.ndarray, clip: Clip) -> np.ndarray:
    # Integer sum then round-half-up: exact and the same on every machine (no float summation order).
    total = context.astype(np.uint32).sum(axis=0)
    n = context.shape[0]
    mean = ((2 * total + n) // (2 * n)).astype(np.uint8)
    return np.repeat(mean[None], clip.target_frames, axis=0)


def nearest_view_indices(c2w: np.ndarray, context_frames: int, hfov_deg: float, aspect: float) -> np.ndarray:
    """For each target frame, the context frame whose view its camera overlaps most (ties: the latest one).
    c2w: [context + target, 4, 4] OpenCV camera-to-world poses (camera.json)."""
    try:
        import torch

        from hmworld.model.fov import fov_overlap
    except ImportError as exc:
        raise BenchmarkError(f"name=nearest-view needs torch ({exc}); install it with the metrics extra: "
                             "pip install -e '.[metrics]'") from exc

    overlap = fov_overlap(torch.from_numpy(np.asarray(c2w, np.float64))[None], hfov_deg=hfov_deg, aspect=aspect)[0]
    seen = overlap[context_frames:, :context_frames].numpy()  # [target, context]: target's points the context sees
    # the last maximum: of equally good views the most recent one (the scene as it was last seen)
    return context_frames - 1 - np.argmax(seen[:, ::-1], axis=1)


def nearest_view(context: np.ndarray, clip: Clip) -> np.ndarray:
    cam = clip.camera
    if len(cam.c2w) != clip.context_frames + clip.target_frames:
        raise BenchmarkError(f"clip {clip.clip_id}: camera.json has {len(cam.c2w)} poses, the clip "
                             f"{clip.context_frames} + {clip.target_frames} frames")
    hfov = float(np.degrees(2 * np.arctan(0.5 * cam.width / cam.intrinsics.fx)))
    return context[nearest_view_indices(cam.c2w, clip.context_frames, hfov, cam.width / cam.height)]


PREDICTORS: dict[str, tuple[Callable[[np.ndarray, Clip], np.ndarray], str]] = {
    "repeat-last": (repeat_last, "Reference floor: every target frame is the last context frame."),
    "mean-context": (mean_context, "Reference floor: every target frame is the per-pixel mean of the context frames."),
    "nearest-view": (nearest_view, "Memory reference: every target frame is the context frame whose view its "
                                   "camera overlaps most (field-of-view overlap of the camera poses)."),
}


@dataclass
class BaselineReport:
    name: str
    out: Path
    written: int
    already: int
    clips: int
    seconds: float


def predict_baseline(name: str, split: str | Path, out: str | Path,
                     progress: Progress = SILENT) -> BaselineReport:
    from hmworld.benchmark.errors import open_complete_split
    from hmworld.benchmark.submission import (SUBMISSION_YAML, SubmissionError, SubmissionInfo, read_submission_info,
                                              write_clip_videos, write_submission_info)
    from hmworld.video import read_video, remove_partial_videos

    if name not in PREDICTORS:
        raise BenchmarkError(f"name={name!r}: choose one of {sorted(PREDICTORS)}")
    fn, description = PREDICTORS[name]
    sp = open_complete_split(split)
    out = Path(out)
    fps = float(sp.manifest["fps"].iloc[0])
    info = SubmissionInfo(model=name, split_fingerprint=sp.fingerprint, fps=int(fps) if fps.is_integer() else fps,
                          includes_context=False, description=description, url="", params=0)
    if (out / SUBMISSION_YAML).exists():
        try:
            existing = read_submission_info(out)
        except SubmissionError as exc:
            raise BenchmarkError(f"out={out}: holds an unreadable submission.yaml:\n{exc}") from exc
        if existing != info:
            diff = [f"{k}: {getattr(existing, k)!r} here, {getattr(info, k)!r} wanted"
                    for k in info.to_dict() if getattr(existing, k) != getattr(info, k)]
            raise BenchmarkError(f"out={out}: holds a different submission; choose another folder\n  - " +
                                 "\n  - ".join(diff))
    if out.exists() and not out.is_dir():
        raise BenchmarkError(f"out={out}: exists and is not a folder")
    # Video names come from the split's clip ids: each must be a plain file name (nothing written elsewhere).
    from hmworld.benchmark.text import name_part

    bad = [c for c in sp.clip_ids if name_part(c) is None]
    if bad:
        raise BenchmarkError(f"split={split}: clip id {str(bad[0])[:80]!r} is not a safe file name (letters, "
                             f"digits, '.', '_', '-'); nothing was written")
    out.mkdir(parents=True, exist_ok=True)
    remove_partial_videos(out)  # a video half-written by a killed run
    started = time.perf_counter()
    def predict(clip) -> np.ndarray:
        context = read_video(clip.video_path, 0, clip.context_frames, max_frames=clip.context_frames + 1)
        return fn(context, clip)

    with progress.start(name, len(sp)) as videos:
        written, already = write_clip_videos(sp, out, predict, fps, videos.advance)
    write_submission_info(out, info)
    return BaselineReport(name, out, written, already, len(sp), time.perf_counter() - started)
