"""Reference predictors: the floors a video-prediction leaderboard needs, written as normal submissions.

    repeat-last    every target frame is the last context frame (a model that stops time)
    mean-context   every target frame is the per-pixel mean of the context frames (a blurry average)

`predict_baseline(name, split, out)` writes `<clip_id>.mp4` (target frames only, includes_context: false) and
then submission.yaml through the submission module, so a folder without submission.yaml is unfinished.
Each video is written to a temporary name and renamed, so a killed run resumes with the clips it lacks; the
encoder is deterministic, so reruns give byte-identical files (and the same submission id).
"""
from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import numpy as np

from hmworld.benchmark.errors import BenchmarkError, open_complete_split
from hmworld.benchmark.submission import (SUBMISSION_YAML, SubmissionError, SubmissionInfo, read_submission_info,
                                          write_clip_videos, write_submission_info)
from hmworld.progress import SILENT, Progress
from hmworld.video import read_video, remove_partial_videos


def repeat_last(context: np.ndarray, target_frames: int) -> np.ndarray:
    return np.repeat(context[-1:], target_frames, axis=0)


def mean_context(context: np.ndarray, target_frames: int) -> np.ndarray:
    # Integer sum then round-half-up: exact and the same on every machine (no float summation order).
    total = context.astype(np.uint32).sum(axis=0)
    n = context.shape[0]
    mean = ((2 * total + n) // (2 * n)).astype(np.uint8)
    return np.repeat(mean[None], target_frames, axis=0)


PREDICTORS: dict[str, tuple[Callable[[np.ndarray, int], np.ndarray], str]] = {
    "repeat-last": (repeat_last, "Reference floor: every target frame is the last context frame."),
    "mean-context": (mean_context, "Reference floor: every target frame is the per-pixel mean of the context frames."),
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
        return fn(context, clip.target_frames)

    with progress.start(name, len(sp)) as videos:
        written, already = write_clip_videos(sp, out, predict, fps, videos.advance)
    write_submission_info(out, info)
    return BaselineReport(name, out, written, already, len(sp), time.perf_counter() - started)
