"""Training HyDRA (and its baselines) with PyTorch Lightning on cached latents.

The objective is the released recipe's flow matching: the context half of the latents stays clean, the target
half is noised at a timestep drawn uniformly from Wan's shifted training grid, the loss is the MSE between the
prediction on the target half and the velocity ``noise - x0``, weighted per timestep (Gaussian bump centred at
t = 500, switchable). `run_training` wires the module, the data, checkpoints (atomic, resumable), metrics.csv,
TensorBoard and the Lightning Trainer built from ``trainer.*``.
"""
from __future__ import annotations

import csv
import io
import os
import time
from functools import partial
from pathlib import Path

import lightning as L
import torch
from lightning.pytorch.plugins.io import TorchCheckpointIO

from hmworld.errors import ConfigError

from hmworld.configs import typed
from hmworld.configs.training import TrainConfig

from .components import as_model_config, build_transformer, digest, text_dim, to_plain, vae_kind
from .dataset import CachedLatentDataset, collate
from .sampling import FlowMatchSchedule
from .trained import (CHECKPOINT_DIR, CHECKPOINT_FORMAT, LAST, METRICS_CSV, CheckpointConfigError, autoencoder_from_meta,
                      autoencoder_record, check_signature, last_checkpoint, model_signature, read_checkpoint_meta)

# ------------------------------------------------------------------------------------------------ module
class HyDRAFlowMatchingModule(L.LightningModule):
    """The transformer plus the flow-matching objective; the hyper-parameters hold the whole config."""

    def __init__(self, model_cfg: dict, train_cfg: dict, optim_cfg: dict, schedule_cfg: dict, seed: int = 0):
        super().__init__()
        self.save_hyperparameters()
        self.model_cfg, self.train_cfg, self.optim_cfg = model_cfg, train_cfg, optim_cfg
        self.seed = int(seed)
        self.transformer = build_transformer(model_cfg, seed=self.seed)
        self.trainable_names = set_trainable(self.transformer, train_cfg.get("trainable", "all"))
        if train_cfg.get("gradient_checkpointing"):
            self.transformer.enable_gradient_checkpointing()
        self.schedule = FlowMatchSchedule(**schedule_cfg)
        self.caption_dropout = float(train_cfg.get("caption_dropout", 0.0))
        # Frozen weights are reloaded from model.transformer.pretrained, so checkpoints need not carry them.
        self.strict_loading = bool(train_cfg.get("save_frozen", True)) or self.trainable_names is None
        self._t0 = None
        self.autoencoder = None  # patch_pca: the fitted autoencoder, carried by every checkpoint
        self.pixel_weight = float(train_cfg.get("pixel_weight", 0.0))
        self._channel_weights: dict[int, torch.Tensor] = {}

    def channel_weights(self, target_latents: int) -> torch.Tensor | None:
        """``[C, Lt]`` loss weights, mean 1: each latent's pixel variance (its decoder scale squared: latent 0
        of the half is one frame, the others 4-frame groups) to the power ``train.pixel_weight``. Channel-
        normalised latents make every channel count alike in the MSE although the first few hold most of the
        picture (on the cpu study's split channel 0 is ~80 % of the pixel variance); 1 is the decoded video's
        MSE. None for 0."""
        if self.pixel_weight == 0.0:
            return None
        if target_latents not in self._channel_weights:
            b = self.autoencoder.bases
            var = torch.stack([b["first"].scale.float().cpu() ** 2]
                              + [b["group"].scale.float().cpu() ** 2] * (target_latents - 1), dim=1)
            w = var ** self.pixel_weight
            self._channel_weights[target_latents] = w / w.mean()
        return self._channel_weights[target_latents]

    def step_generator(self) -> torch.Generator:
        # Noise, timesteps and caption dropout of step s on rank r are a pure function of (seed, s, r), so a
        # resumed run draws exactly what an uninterrupted one would have drawn.
        key = int(digest([self.seed, int(self.global_step), int(self.global_rank)], 15), 16)
        return torch.Generator().manual_seed(key)

    def flow_loss(self, batch: dict, generator: torch.Generator) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        latents = batch["latents"]
        nc = int(batch["num_context"])
        x0 = latents[:, :, nc:]
        b = latents.shape[0]
        noise = torch.randn(x0.shape, generator=generator).to(x0.device, x0.dtype)
        idx = self.schedule.sample(b, generator)
        noisy, target, t, w = self.schedule.training_pair(x0, noise, idx)
        text = batch["text"]
        if self.caption_dropout > 0:
            keep = (torch.rand(b, generator=generator) >= self.caption_dropout).to(text.device, text.dtype)
            text = text * keep.view(b, 1, 1)  # a dropped caption is the all-padding (zero) embedding
        dtype = next(self.transformer.parameters()).dtype
        x = torch.cat([latents[:, :, :nc], noisy], dim=2).to(dtype)
        pred = self.transformer(x, t.to(dtype), text.to(dtype), camera=batch["camera"].to(dtype),
                                num_context_frames=nc).sample
        sq = (pred[:, :, nc:].float() - target.float()).square()
        per_sample = sq.mean(dim=(1, 2, 3, 4))
        cw = self.channel_weights(x0.shape[2])
        loss = per_sample if cw is None else (sq.mean(dim=(3, 4)) * cw.to(sq.device)).mean(dim=(1, 2))
        return (loss * w).mean(), per_sample.mean().detach(), t.float().mean()

    def training_step(self, batch, batch_idx):
        if self._t0 is None:
            self._t0 = time.perf_counter()
        loss, mse, t = self.flow_loss(batch, self.step_generator())
        bs = batch["latents"].shape[0]
        self.log("train_loss", loss, prog_bar=True, on_step=True, on_epoch=False, sync_dist=True, batch_size=bs)
        self.log("train_mse", mse, on_step=True, on_epoch=False, sync_dist=True, batch_size=bs)
        self.log("timestep", t, on_step=True, on_epoch=False, sync_dist=True, batch_size=bs)
        return loss

    def configure_optimizers(self):
        params = [p for p in self.transformer.parameters() if p.requires_grad]
        o = self.optim_cfg
        opt = torch.optim.AdamW(params, lr=float(o["lr"]), betas=tuple(o.get("betas", (0.9, 0.999))),
                                weight_decay=float(o.get("weight_decay", 0.0)), eps=float(o.get("eps", 1e-8)))
        warmup = int(o.get("warmup_steps", 0))
        sched = torch.optim.lr_scheduler.LambdaLR(opt, lambda s: min(1.0, (s + 1) / warmup) if warmup > 0 else 1.0)
        return {"optimizer": opt, "lr_scheduler": {"scheduler": sched, "interval": "step"}}

    def on_save_checkpoint(self, checkpoint: dict) -> None:
        checkpoint["hmworld"] = {"format": CHECKPOINT_FORMAT, "model_cfg": self.model_cfg,
                                 "signature": model_signature(self.model_cfg),
                                 "trainable": self.train_cfg.get("trainable", "all"),
                                 "frozen_saved": self.strict_loading}
        if self.autoencoder is not None:
            checkpoint["hmworld"]["autoencoder"] = autoencoder_record(self.autoencoder)
        if not self.strict_loading:
            keep = {f"transformer.{n}" for n in self.trainable_names}
            checkpoint["state_dict"] = {k: v for k, v in checkpoint["state_dict"].items() if k in keep}

    def on_load_checkpoint(self, checkpoint: dict) -> None:
        meta = checkpoint.get("hmworld") or {}
        if "model_cfg" in meta:
            check_signature("checkpoint", meta["model_cfg"], self.model_cfg)


def set_trainable(model, trainable: str):
    """``all``: every parameter; ``hydra``: the released recipe's groups (each block's self-attention with the
    memory tokenizer, camera encoders and projector), the rest frozen. Returns the trainable names (None: all)."""
    if trainable == "all":
        model.requires_grad_(True)
        return None
    if trainable != "hydra":
        raise ConfigError(f"train.trainable={trainable!r}: use all or hydra")
    names = {n for n, _ in model.hydra_trainable_parameters()}
    for n, p in model.named_parameters():
        p.requires_grad_(n in names)
    return names


# ------------------------------------------------------------------------------------------------ I/O plugins
class AtomicCheckpointIO(TorchCheckpointIO):
    """Write the checkpoint to a hidden temporary file in the same folder, fsync, then rename over the target:
    a run killed while saving leaves the previous checkpoint intact, never a truncated one."""

    def save_checkpoint(self, checkpoint, path, storage_options=None):
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
        try:
            buf = io.BytesIO()
            torch.save(checkpoint, buf)
            with open(tmp, "wb") as f:
                f.write(buf.getbuffer())
                f.flush()
                os.fsync(f.fileno())
            os.replace(tmp, path)
        finally:
            tmp.unlink(missing_ok=True)


class MetricsCSV(L.Callback):
    """``metrics.csv``: one row per logged optimizer step (step, epoch, train_loss, train_mse, timestep, lr,
    seconds). On resume, rows past the restored step are dropped: those steps are trained again."""

    fields = ["step", "epoch", "train_loss", "train_mse", "timestep", "lr", "seconds"]

    def __init__(self, path: Path, every: int):
        self.path, self.every, self.last_step, self.t0, self.offset = Path(path), max(1, int(every)), -1, None, 0.0

    def on_train_start(self, trainer, pl_module):
        if not trainer.is_global_zero:
            return
        rows = []
        if self.path.is_file():
            with open(self.path, newline="") as f:
                rows = [r for r in csv.DictReader(f) if r.get("step") and int(r["step"]) <= trainer.global_step]
        if rows:
            self.offset = float(rows[-1].get("seconds") or 0.0)
        from hmworld.fsutil import atomic_write_text

        buf = io.StringIO()
        w = csv.DictWriter(buf, fieldnames=self.fields)
        w.writeheader()
        for r in rows:
            w.writerow({k: r.get(k, "") for k in self.fields})
        atomic_write_text(self.path, buf.getvalue())
        self.last_step = trainer.global_step
        self.t0 = time.perf_counter()

    def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx):
        step = trainer.global_step
        if not trainer.is_global_zero or step == self.last_step or step % self.every:
            return
        self.last_step = step
        m = trainer.callback_metrics
        val = lambda k: f"{float(m[k]):.6g}" if k in m else ""  # noqa: E731
        lr = trainer.optimizers[0].param_groups[0]["lr"] if trainer.optimizers else ""
        row = {"step": step, "epoch": trainer.current_epoch, "train_loss": val("train_loss"),
               "train_mse": val("train_mse"), "timestep": val("timestep"), "lr": f"{lr:.6g}",
               "seconds": f"{self.offset + time.perf_counter() - self.t0:.3f}"}
        with open(self.path, "a", newline="") as f:
            csv.DictWriter(f, fieldnames=self.fields).writerow(row)


# ------------------------------------------------------------------------------------------------ run
def _trainer_kwargs(cfg) -> dict:
    kw = {k: v for k, v in to_plain(cfg.trainer).items() if v is not None}
    if "precision" not in kw:
        # bf16 autocast where a GPU is present; full float32 on CPU (CPU bf16 autocast is slow and not needed).
        kw["precision"] = "bf16-mixed" if torch.cuda.is_available() and kw.get("accelerator", "auto") != "cpu" else "32-true"
    return kw


def run_training(cfg, *, progress: bool = True) -> dict:
    """Train per ``cfg`` (the `hmworld train` config); resumes from ``out/checkpoints/last.ckpt`` when present."""
    from lightning.pytorch.callbacks import ModelCheckpoint, RichProgressBar
    from lightning.pytorch.loggers import TensorBoardLogger

    cfg = typed(TrainConfig, cfg)
    out = Path(cfg.out)
    out.mkdir(parents=True, exist_ok=True)
    model_cfg = to_plain(cfg.model)
    seed = int(cfg.seed)
    L.seed_everything(seed, workers=True, verbose=False)

    dataset = CachedLatentDataset(cfg.split, model_cfg, cfg.cache_dir)
    bs = int(cfg.train.batch_size)
    if bs > len(dataset):
        raise ConfigError(f"train.batch_size={bs} is larger than the split ({len(dataset)} clips)")
    tdim = text_dim(model_cfg)
    tr_text = as_model_config(model_cfg).transformer.config.get("text_dim", tdim)
    if int(tr_text) != tdim:
        raise ConfigError(f"model.text_encoder gives {tdim}-wide embeddings but model.transformer.config.text_dim="
                          f"{tr_text}")
    loader = torch.utils.data.DataLoader(
        dataset, batch_size=bs, shuffle=True, drop_last=True, num_workers=int(cfg.train.num_workers),
        collate_fn=partial(collate, max_length=dataset.max_length),
        generator=torch.Generator().manual_seed(seed), persistent_workers=int(cfg.train.num_workers) > 0)

    autoencoder = None
    if vae_kind(model_cfg) == "patch_pca":
        autoencoder, _ = dataset.cache.autoencoder()
    pixel_weight = cfg.train.pixel_weight
    if not isinstance(pixel_weight, (int, float)) or isinstance(pixel_weight, bool) or pixel_weight < 0:
        raise ConfigError(f"train.pixel_weight={pixel_weight!r}: use a number >= 0 (0 plain latent MSE, 1 pixel MSE)")
    if pixel_weight > 0 and autoencoder is None:
        raise ConfigError(f"train.pixel_weight={pixel_weight} needs model.vae.kind=patch_pca (its channels' pixel "
                          f"variances), this model has {vae_kind(model_cfg)}; use train.pixel_weight=0")
    ckpt_path = last_checkpoint(out) if cfg.resume else None
    if ckpt_path is not None and ckpt_path.is_file():
        meta = read_checkpoint_meta(ckpt_path)
        check_signature(ckpt_path, meta["model_cfg"], model_cfg)
        stored = autoencoder_from_meta(meta, str(ckpt_path))
        if autoencoder is not None and stored is not None and stored.identity != autoencoder.identity:
            raise CheckpointConfigError(
                f"{ckpt_path}: trained on latents of another patch autoencoder (identity {stored.identity}, the "
                f"cache's is {autoencoder.identity}); the split or model.vae changed: choose a new out folder")
    elif not cfg.resume and last_checkpoint(out) is not None:
        raise ConfigError(f"out={out} already holds {last_checkpoint(out)} and resume=false; choose a new out folder")

    train_cfg = to_plain(cfg.train)
    module = HyDRAFlowMatchingModule(model_cfg, train_cfg, to_plain(cfg.optim), to_plain(cfg.schedule), seed)
    module.autoencoder = autoencoder

    ck = to_plain(cfg.checkpoint)
    kw = _trainer_kwargs(cfg)
    checkpointer = ModelCheckpoint(
        dirpath=out / CHECKPOINT_DIR, filename="step{step:08d}", auto_insert_metric_name=False,
        every_n_train_steps=int(ck["every_n_steps"]), save_last=True, monitor="step", mode="max",
        save_top_k=int(ck["keep"]))
    callbacks = [checkpointer, MetricsCSV(out / METRICS_CSV, kw.get("log_every_n_steps", 1))]
    if progress:
        callbacks.append(RichProgressBar())
    trainer = L.Trainer(
        default_root_dir=str(out), logger=[TensorBoardLogger(str(out), name="tensorboard", version="")],
        # DeepSpeed saves through its own engine (a folder per checkpoint); every other strategy writes one file
        # through the atomic CheckpointIO.
        callbacks=callbacks, plugins=[] if "deepspeed" in str(kw.get("strategy", "")) else [AtomicCheckpointIO()],
        enable_progress_bar=bool(progress),
        enable_model_summary=False, **kw)
    trainer.fit(module, train_dataloaders=loader, ckpt_path=str(ckpt_path) if ckpt_path else None)
    # The final step is saved even when max_steps is not a multiple of checkpoint.every_n_steps.
    last = out / CHECKPOINT_DIR / LAST
    if not last.exists() or (last.is_file() and read_checkpoint_meta(last)["global_step"] != trainer.global_step):
        trainer.save_checkpoint(str(last))
    return {"out": out, "global_step": trainer.global_step, "resumed_from": ckpt_path,
            "metrics": out / METRICS_CSV, "checkpoint": last,
            "trainable_params": sum(p.numel() for p in module.transformer.parameters() if p.requires_grad),
            "params": sum(p.numel() for p in module.transformer.parameters()),
            "is_global_zero": trainer.is_global_zero}
