"""What a training run leaves on disk, read without Lightning: the hmworld metadata in its checkpoints (model
config, signature, the patch autoencoder), the transformer of a checkpoint, the last checkpoint, metrics.csv.

Generation, the study's resume checks and `hmworld train`'s summary need only these; keeping them out of
training.py spares those commands Lightning's import (several seconds: it imports torchmetrics and torchvision).
"""
from __future__ import annotations

import csv
from pathlib import Path
from typing import Any

import torch

from hmworld.errors import HMWorldError

from .components import build_transformer, text_dim, to_plain, vae_kind, vae_z_dim

CHECKPOINT_DIR = "checkpoints"
LAST = "last.ckpt"
METRICS_CSV = "metrics.csv"
CHECKPOINT_FORMAT = 1

# Everything in the model config that changes the network's parameters or what it computes; paths to weights are
# left out so a run can move between machines (the weights' identity is checked by the state dict itself).
_PATH_KEYS = ("pretrained", "hydra_checkpoint", "subfolder")


def model_signature(model_cfg) -> dict:
    """The parts of a model config a checkpoint must agree with (architecture, retrieval, encoders' widths)."""
    cfg = to_plain(model_cfg)
    tr = {k: v for k, v in (cfg.get("transformer") or {}).items() if k not in _PATH_KEYS and k != "dtype"}
    vae = {"z_dim": vae_z_dim(cfg)}
    if vae_kind(cfg) != "wan":
        vae["kind"] = vae_kind(cfg)  # absent for wan, so checkpoints written before `kind` existed still compare equal
    sig = {"transformer": tr, "vae": vae, "text_dim": text_dim(cfg)}
    return sig


def signature_diff(a: Any, b: Any, prefix: str = "model") -> list[str]:
    if isinstance(a, dict) and isinstance(b, dict):
        out: list[str] = []
        for k in sorted(set(a) | set(b)):
            out += signature_diff(a.get(k, "<missing>"), b.get(k, "<missing>"), f"{prefix}.{k}")
        return out
    norm = lambda v: list(v) if isinstance(v, tuple) else v  # noqa: E731
    return [] if norm(a) == norm(b) else [f"{prefix}: checkpoint has {a!r}, this run has {b!r}"]


class CheckpointConfigError(HMWorldError):
    """A checkpoint was trained with a different model configuration."""


def read_checkpoint_meta(path: str | Path) -> dict:
    """The hmworld metadata of one of our Lightning checkpoints, without loading its tensors into memory."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"checkpoint not found: {path}")
    try:
        ckpt = torch.load(str(path), map_location="cpu", weights_only=False, mmap=True)
    except Exception as exc:  # truncated or not a torch file
        raise HMWorldError(f"{path}: not a readable checkpoint ({type(exc).__name__}: {exc})") from exc
    meta = ckpt.get("hmworld") if isinstance(ckpt, dict) else None
    if not isinstance(meta, dict) or "model_cfg" not in meta:
        raise HMWorldError(f"{path}: field `hmworld` (model config) missing: not a checkpoint written by "
                           "`hmworld train` (a released HyDRA checkpoint goes into model.transformer.hydra_checkpoint)")
    meta["global_step"] = int(ckpt.get("global_step", 0))
    meta["state_dict"] = ckpt.get("state_dict")
    return meta


def check_signature(path, stored_cfg, model_cfg) -> None:
    diffs = signature_diff(model_signature(stored_cfg), model_signature(model_cfg))
    if diffs:
        raise CheckpointConfigError(f"{path}: trained with another model configuration ({len(diffs)} difference(s)):"
                                    "\n  " + "\n  ".join(diffs))


def autoencoder_record(ae) -> dict:
    """What a checkpoint stores of the patch autoencoder: its tensors and metadata (identity, tensor hash)."""
    from .patch_autoencoder import tensors_digest

    tensors = ae.tensors()
    return {"tensors": tensors, "meta": {**ae.meta, "tensors_sha256": tensors_digest(tensors)}}


def autoencoder_from_meta(meta: dict, where: str):
    """The patch autoencoder a checkpoint carries (None when it has none)."""
    from .patch_autoencoder import PatchAutoencoder

    rec = meta.get("autoencoder")
    if rec is None:
        return None
    return PatchAutoencoder.from_tensors(rec["tensors"], rec["meta"], where=f"{where} (field hmworld.autoencoder)")


def read_metrics(path: str | Path) -> list[dict]:
    with open(path, newline="") as f:
        return list(csv.DictReader(f))


def last_checkpoint(out: Path) -> Path | None:
    p = Path(out) / CHECKPOINT_DIR / LAST
    return p if p.exists() else None  # DeepSpeed writes a checkpoint folder, everything else a file


def load_trained_transformer(checkpoint: str | Path, model_cfg=None, device="cpu"):
    """The transformer of a `hmworld train` checkpoint (its stored model config, or ``model_cfg`` which must
    agree with it). Frozen weights the checkpoint left out are rebuilt from ``model.transformer.pretrained``."""
    meta = read_checkpoint_meta(checkpoint)
    stored = meta["model_cfg"]
    if model_cfg is not None:
        check_signature(checkpoint, stored, to_plain(model_cfg))
        use = to_plain(model_cfg)
    else:
        use = stored
    model = build_transformer(use, seed=0)
    state = {k[len("transformer."):]: v for k, v in (meta["state_dict"] or {}).items() if k.startswith("transformer.")}
    own = model.state_dict()
    unexpected = sorted(set(state) - set(own))
    wrong = sorted(k for k in state if k in own and tuple(state[k].shape) != tuple(own[k].shape))
    missing = sorted(set(own) - set(state)) if meta.get("frozen_saved", True) else []
    if unexpected or wrong or missing:
        parts = []
        if missing:
            parts.append(f"missing keys {missing[:6]}{' ...' if len(missing) > 6 else ''}")
        if unexpected:
            parts.append(f"unexpected keys {unexpected[:6]}{' ...' if len(unexpected) > 6 else ''}")
        if wrong:
            parts.append("wrong shapes " + ", ".join(f"{k} {tuple(state[k].shape)} vs {tuple(own[k].shape)}" for k in wrong[:4]))
        raise CheckpointConfigError(f"{checkpoint}: field state_dict does not fit the model: " + "; ".join(parts))
    model.load_state_dict(state, strict=False)
    return model.to(device).eval(), use, meta
