"""Helpers for the benchmark tests (a uniquely named module: several conftest.py files coexist)."""
from __future__ import annotations

import os
import sqlite3
import subprocess
import sys
from pathlib import Path
from typing import Callable

import numpy as np

from hmworld.benchmark import SubmissionInfo, write_submission_info
from hmworld.split import Split
from hmworld.video import write_video

HERE = Path(__file__).parent
HMWORLD = [sys.executable, "-m", "hmworld"]


def tiny_models_factory(weights_dir=None, device=None, yolo_weights="yolo11n.pt"):
    """MetricModels whose models are the tiny random ones, loaded through the production loaders (the CLI's
    models_factory= hook; spawned score workers import it by name)."""
    from hmworld.metrics import MetricModels, load_clip, load_dino, load_lpips
    from metrics_testlib import TINY_CLIP, TINY_DINO

    return MetricModels(weights_dir=str(weights_dir), device="cpu", yolo_weights="yolo11n.pt",
                        allow_download=False, lpips=load_lpips(weights_dir, "cpu"),
                        dino=load_dino(weights_dir, "cpu", arch=TINY_DINO),
                        clip=load_clip(weights_dir, "cpu", arch=TINY_CLIP))


def make_submission(split_dir: Path, out: Path, frames: Callable, model: str, includes_context: bool = False,
                    fps: float | None = None, clips: list[str] | None = None) -> Path:
    """A submission folder: frames(clip) -> uint8 [T, H, W, 3] per clip (every clip unless `clips`)."""
    split = Split(split_dir)
    out.mkdir(parents=True, exist_ok=True)
    rate = float(split.manifest["fps"].iloc[0])
    for clip in split:
        if clips is not None and clip.clip_id not in clips:
            continue
        write_video(out / f"{clip.clip_id}.mp4", frames(clip), fps or rate)
    write_submission_info(out, SubmissionInfo(model=model, split_fingerprint=split.fingerprint, fps=int(rate),
                                              includes_context=includes_context, params=1000))
    return out


def gt_copy(clip) -> np.ndarray:
    return clip.target()


def gt_with_context(clip) -> np.ndarray:
    return clip.frames()


def noisy(sigma: float, seed: int = 0) -> Callable:
    def fn(clip):
        rng = np.random.default_rng([seed, clip.row["slot"]])
        t = clip.target().astype(np.float32)
        return np.clip(t + rng.normal(0, sigma, t.shape), 0, 255).astype(np.uint8)
    return fn


def run_cli(*args: str, check: bool = True, timeout: float = 300, env: dict | None = None) -> subprocess.CompletedProcess:
    e = {**os.environ, "COLUMNS": "200", "PYTHONPATH": os.pathsep.join(
        [str(HERE), str(HERE.parent / "metrics"), os.environ.get("PYTHONPATH", "")])}
    e.update(env or {})
    proc = subprocess.run([*HMWORLD, *args], capture_output=True, text=True, timeout=timeout, env=e)
    if check and proc.returncode != 0:
        raise AssertionError(f"hmworld {' '.join(args)} failed ({proc.returncode}):\n{proc.stdout}\n{proc.stderr}")
    return proc


def score_rows(results: Path) -> list[tuple]:
    """Every result row that must be identical between equivalent runs (no timings)."""
    with sqlite3.connect(results) as db:
        return [*db.execute("SELECT * FROM scores ORDER BY 1,2,3,4,5"),
                *db.execute("SELECT * FROM clips ORDER BY 1,2,3,4"),
                *db.execute("SELECT * FROM submissions ORDER BY 1,2,3")]
