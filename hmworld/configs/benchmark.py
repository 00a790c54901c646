"""`hmworld score`, `score-merge`, `leaderboard`, `predict-baseline` and `weights`: typed schemas
(benchmark/README.md). `ScoreConfig` is also the argument of hmworld.benchmark.scoring.score_submission."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, List, Optional

from omegaconf import MISSING

from .model import ModelConfig


@dataclass
class ScoreConfig:
    submission: str = MISSING  # submission folder, or a .zip / .tar (.tar.gz ...) of one
    split: str = MISSING  # the split folder it was made for
    results: str = MISSING  # SQLite results store (created if missing; may hold many submissions)
    # null: every metric whose packages and weights are present; or a subset of the registry's metrics
    # (psnr, ssim, lpips, dsc, subject_consistency, background_consistency, masked)
    metrics: Optional[List[str]] = None
    partial: bool = False  # true: score the valid clips and mark the rest (default: refuse with every problem)
    shard: int = 0  # this process scores clips i with i % num_shards == shard ...
    num_shards: int = 1  # ... each shard writes its own store; join them with `hmworld score-merge`
    workers: int = 1  # local worker processes (each loads the models once)
    limit: Optional[int] = None  # score at most this many clips in this run (the rest on the next run)
    weights_dir: Optional[str] = None  # metric weights folder (null: $HMWORLD_WEIGHTS_DIR, then libraries' caches)
    yolo_weights: str = "yolo11x.pt"  # DSC detector checkpoint name
    device: Optional[str] = None  # null: cuda when present, else cpu
    threads: Optional[int] = None  # torch threads per worker (null: torch's default)
    # detect (the paper's) | gt_target_boxes | gt_boxes | detect_top | auto; other modes are stored under their
    # own convention version (never ranked with detect)
    dsc_mode: str = "detect"
    models_factory: Optional[str] = None  # "module:function" returning a hmworld.metrics.MetricModels
    progress: bool = True  # rich progress bars


@dataclass
class ScoreMergeConfig:
    inputs: List[str] = MISSING  # results stores to merge
    results: str = MISSING  # the store they are merged into (created if missing)


@dataclass
class LeaderboardConfig:
    results: str = MISSING  # the results store (`hmworld score` / `hmworld score-merge`)
    out: str = MISSING  # folder for leaderboard.csv, leaderboard.md, reported.csv, index.html, thumbs/
    rank_by: str = "psnr"  # the column ranked by (in its better direction): any metric column of leaderboard.csv
    title: str = "HM-World leaderboard"  # page title


@dataclass
class PredictBaselineConfig:
    name: str = "repeat-last"  # a name in benchmark/baselines.py's PREDICTORS: repeat-last | mean-context | nearest-view
    split: str = MISSING  # the split folder
    out: str = MISSING  # the submission folder to write (resumed if it holds the same submission)
    progress: bool = True


@dataclass
class WeightsConfig:
    model: ModelConfig = MISSING  # model=wan_1_3b|tiny: whose pretrained parts to check
    captioner: Any = MISSING  # captioner=minicpm|vlm|template: whose model folder to check
    weights_dir: Optional[str] = None  # folder of weights files (null: $HMWORLD_WEIGHTS_DIR; libraries' caches)
    yolo_weights: str = "yolo11x.pt"  # the DSC detector checkpoint to look for


SCHEMAS = [
    (None, "score_schema", ScoreConfig),
    (None, "score_merge_schema", ScoreMergeConfig),
    (None, "leaderboard_schema", LeaderboardConfig),
    (None, "predict_baseline_schema", PredictBaselineConfig),
    (None, "weights_schema", WeightsConfig),
]
