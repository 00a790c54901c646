"""`hmworld cache`, `train`, `generate`, `retrieval-view` and `study`: typed schemas (model/TRAINING.md)."""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Dict, List, Optional

from omegaconf import II, MISSING

from .model import ModelConfig

# Wan2.1's default negative prompt (its shared config's sample_neg_prompt), as the released HyDRA inference passes it.
WAN_NEGATIVE_PROMPT = ("色调艳丽，过曝，静态，细节模糊不清，字幕，风格，作品，画作，画面，静止，整体发灰，最差质量，低质量，"
                       "JPEG压缩残留，丑陋的，残缺的，多余的手指，画得不好的手部，画得不好的脸部，畸形的，毁容的，"
                       "形态畸形的肢体，手指融合，静止不动的画面，杂乱的背景，三条腿，背景人很多，倒着走")


@dataclass
class CacheConfig:
    model: ModelConfig = MISSING  # model=tiny|wan_1_3b: the encoders whose latents are cached
    split: str = MISSING  # the split folder
    cache_dir: Optional[str] = None  # null: <split>/cache
    device: str = "auto"  # auto (cuda when present) | cpu | cuda | cuda:N
    text_batch: int = 8  # captions per text-encoder call
    limit: Optional[int] = None  # encode at most this many clips in this run
    progress: bool = True


@dataclass
class TrainSection:
    trainable: str = II("model.recipe.trainable")  # all | hydra (camera encoders, projector, self-attention)
    caption_dropout: float = II("model.recipe.caption_dropout")  # probability of a sample without its caption
    gradient_checkpointing: bool = II("model.recipe.gradient_checkpointing")
    # loss weight per latent channel x (its pixel variance)^p, mean 1: 0 latent MSE, 1 pixel MSE (patch_pca)
    pixel_weight: float = 0.0
    save_frozen: bool = True  # false: checkpoints hold only the trainable weights
    batch_size: int = 1  # per process
    num_workers: int = 0


@dataclass
class OptimConfig:
    """AdamW."""

    lr: float = II("model.recipe.lr")
    betas: List[float] = field(default_factory=lambda: [0.9, 0.999])
    weight_decay: float = 0.0
    warmup_steps: int = II("model.recipe.warmup_steps")


@dataclass
class ScheduleConfig:
    """Flow matching on Wan's shifted grid."""

    num_train_timesteps: int = 1000
    shift: float = 5.0
    weighting: str = "gaussian"  # gaussian (bump centred at t=500, the released recipe) | none


@dataclass
class CheckpointConfig:
    every_n_steps: int = 50  # also saved at the last step
    keep: int = 2  # newest step checkpoints kept (plus last.ckpt)


def _trainer_defaults() -> Dict[str, Any]:
    # lightning.Trainer(**trainer): a dict, so any Trainer argument can be added with +trainer.NAME=VALUE
    return {"max_steps": 1000, "accelerator": "auto",
            "devices": 1,  # >1: DDP processes on this machine (or torchrun/SLURM)
            "num_nodes": 1, "strategy": "auto",  # ddp | fsdp | deepspeed_stage_2 ...
            "precision": None,  # null: bf16-mixed on GPU, 32-true on CPU
            "log_every_n_steps": 1,  # also the metrics.csv cadence
            "gradient_clip_val": 1.0, "accumulate_grad_batches": 1, "max_epochs": -1}  # steps decide


@dataclass
class TrainConfig:
    model: ModelConfig = MISSING  # model=tiny|wan_1_3b
    split: str = MISSING  # the split folder (latents cached by `hmworld cache` with the same model settings)
    out: str = MISSING  # run folder: checkpoints/, metrics.csv, tensorboard/, config.yaml
    cache_dir: Optional[str] = None  # null: <split>/cache
    seed: int = 0  # model init, noise, timesteps, caption dropout and data order derive from it
    resume: bool = True  # continue from out/checkpoints/last.ckpt when present
    progress: bool = True
    train: TrainSection = field(default_factory=TrainSection)
    optim: OptimConfig = field(default_factory=OptimConfig)
    schedule: ScheduleConfig = field(default_factory=ScheduleConfig)
    checkpoint: CheckpointConfig = field(default_factory=CheckpointConfig)
    trainer: Dict[str, Any] = field(default_factory=_trainer_defaults)


@dataclass
class GenerateConfig:
    model: Optional[ModelConfig] = None  # null: the checkpoint's own; naming one checks the checkpoint against it
    checkpoint: str = MISSING  # a `hmworld train` checkpoint (.ckpt), e.g. RUN_DIR/checkpoints/last.ckpt
    out: str = MISSING  # submission folder (split form) or output folder (single clip)
    split: Optional[str] = None  # split form: the split whose clips to predict
    cache_dir: Optional[str] = None  # split form: cached context latents / caption embeddings (<split>/cache)
    limit: Optional[int] = None  # split form: only the first N clips (no submission.yaml is written then)
    overwrite: bool = False  # regenerate videos already in `out` (and accept other settings than the last run's)
    video: Optional[str] = None  # single clip: the context video (4k+1 frames)
    camera: Optional[str] = None  # single clip: camera JSON (ours, or the release's), context then target poses
    caption: str = ""  # single clip: the caption
    name: Optional[str] = None  # single clip: output file name (default: the video's name)
    fps: Optional[float] = None  # single clip: output fps (default: the context video's)
    steps: Optional[int] = None  # Euler steps (null: the model config's sampler.steps)
    shift: Optional[float] = None  # schedule shift (null: sampler.shift)
    guidance: Optional[float] = None  # classifier-free guidance scale, 1 = off (null: sampler.guidance)
    seed: int = 0  # initial noise per clip from (seed, clip id)
    # the unconditional guidance branch's caption: Wan2.1's default negative prompt (as the released HyDRA
    # inference); null: the all-padding caption that caption dropout trains; any text: that text
    negative_prompt: Optional[str] = WAN_NEGATIVE_PROMPT
    device: str = "auto"  # auto | cpu | cuda | cuda:N
    model_name: Optional[str] = None  # submission.yaml `model` (default: the model config's name)
    description: Optional[str] = None
    url: Optional[str] = None
    save_retrieval: bool = False  # split form, dynamic/fov: keep which memory frames each latent frame read
    progress: bool = True


@dataclass
class RetrievalViewConfig:
    run: str = MISSING  # the submission folder generate wrote (its logs are in <run>.retrieval/ beside it)
    out: str = MISSING  # folder for the PNGs and index.html
    split: Optional[str] = None  # null: the split recorded in the logs (for the subjects' visibility)
    clips: Optional[List[str]] = None  # null: every logged clip; or a list of clip ids


@dataclass
class StudySplit:
    num_clips: int = MISSING
    seed: int = MISSING


@dataclass
class StudySplits:
    """The two splits, both rendered with the `render` section."""

    train: StudySplit = field(default_factory=lambda: StudySplit(8, 0))
    test: StudySplit = field(default_factory=lambda: StudySplit(4, 1))


@dataclass
class StudyReportConfig:
    sample_clips: int = 3  # clips shown as frames (context, ground truth, each mode's re-entry)
    heatmap_clips: int = 2  # clips whose retrieval heat maps are shown per memory-reading mode (first seed)
    gap_metric: str = "subject_psnr"  # the metric plotted against the hidden gap (per exit-entry event)


@dataclass
class StudyConfig:
    """Sections render/cache/train/generate/score/leaderboard hold keys of that command's own schema, merged
    over its defaults (checked there: a misspelled key is an error when the study composes that command)."""

    model: ModelConfig = MISSING  # shared by cache, train and generate
    out: str = MISSING  # the study folder (created, or resumed when it holds this study)
    preset: str = MISSING  # set by the preset file (its name)
    modes: List[str] = field(default_factory=lambda: ["dynamic", "fov", "full", "local"])  # trained modes
    seeds: List[int] = field(default_factory=lambda: [0, 1, 2])  # one training run and generation per mode x seed
    # reference submissions beside the modes: benchmark/baselines.py's predictors and the autoencoder's ceiling
    floors: List[str] = field(default_factory=lambda: ["repeat-last", "mean-context", "nearest-view", "ceiling"])
    progress: bool = True
    splits: StudySplits = field(default_factory=StudySplits)
    render: Dict[str, Any] = field(default_factory=dict)  # keys of RenderConfig, for both splits
    cache: Dict[str, Any] = field(default_factory=lambda: {"device": "auto"})  # keys of CacheConfig
    train: Dict[str, Any] = field(default_factory=dict)  # keys of TrainConfig (trainer.*, train.*, optim.*, ...)
    generate: Dict[str, Any] = field(default_factory=dict)  # keys of GenerateConfig (steps, guidance, ...)
    score: Dict[str, Any] = field(default_factory=lambda: {"metrics": None})  # keys of ScoreConfig
    leaderboard: Dict[str, Any] = field(default_factory=lambda: {"rank_by": "psnr"})  # keys of LeaderboardConfig
    report: StudyReportConfig = field(default_factory=StudyReportConfig)


SCHEMAS = [
    (None, "cache_schema", CacheConfig),
    (None, "train_schema", TrainConfig),
    (None, "generate_schema", GenerateConfig),
    (None, "retrieval_view_schema", RetrievalViewConfig),
    (None, "study_schema", StudyConfig),
]
