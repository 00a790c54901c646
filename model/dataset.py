"""Datasets over a split: decoded clips for the encoders, cached latents for the trainer.

`SplitClipDataset` decodes a clip (PyAV, through the split reader), resizes and centre-crops it to the model's
frame size, splits context and target as the manifest says, computes the model's camera vectors with
`hmworld.model.camera` and returns the caption. `CachedLatentDataset` reads what `hmworld cache` stored.

Frame constraints (ARCHITECTURE.md): Wan's VAE encodes 4k+1 frames into k+1 latents and each half is encoded
separately, so each half needs 4k+1 frames; a model that reads memory tokens with a temporal stride of 2 needs an
even latent count per half (memory frames then never straddle the context/target boundary); the frame size must
be a multiple of 16 (VAE stride 8 x patch 2). Violations raise a `SplitError` naming the split, the clip and the
field.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

from hmworld.errors import SplitError
from hmworld.split import Split

from .camera import relative_camera_vectors
from .components import (VAE_SPATIAL_STRIDE, VAE_TEMPORAL_STRIDE, FrameGeometry, as_model_config,
                         transformer_uses_memory)


def size_multiple(model_cfg) -> int:
    # transformer.config holds HyDRATransformer3DModel's arguments; (1, 2, 2) is its own default patch size
    patch = as_model_config(model_cfg).transformer.config.get("patch_size") or (1, 2, 2)
    return VAE_SPATIAL_STRIDE * int(max(patch[1], patch[2]))


def check_frames(where: str, field: str, frames: int, uses_memory: bool, mem_stride: int) -> None:
    """One half's frame count: 4k+1, and an even latent count when memory frames pair latent frames."""
    if frames < 1 or (frames - 1) % VAE_TEMPORAL_STRIDE:
        lo = max(1, (frames - 1) // VAE_TEMPORAL_STRIDE * VAE_TEMPORAL_STRIDE + 1)
        raise SplitError(
            f"{where}: {field}={frames}: Wan's VAE encodes each half separately as 4k+1 frames "
            f"(e.g. {lo} or {lo + VAE_TEMPORAL_STRIDE}); re-render the split with video.{field}=<4k+1>")
    latents = (frames - 1) // VAE_TEMPORAL_STRIDE + 1
    if uses_memory and mem_stride > 1 and latents % mem_stride:
        raise SplitError(
            f"{where}: {field}={frames} gives {latents} latent frames, but the memory tokenizer's temporal stride is "
            f"{mem_stride}, so each half needs a latent count divisible by {mem_stride} "
            f"(e.g. {frames + VAE_TEMPORAL_STRIDE} frames); re-render with video.{field}="
            f"{frames + VAE_TEMPORAL_STRIDE * (mem_stride - latents % mem_stride)}")


def geometry_for(split: Split, model_cfg) -> FrameGeometry:
    """The frame geometry the model uses on this split; checks every clip, naming the first fault."""
    if len(split) == 0:
        raise SplitError(f"split={split.root}: no clips")
    data = as_model_config(model_cfg).data
    uses_memory, stride = transformer_uses_memory(model_cfg)
    mult = size_multiple(model_cfg)
    m = split.manifest
    geom = None
    for row in m.itertuples():
        where = f"split={split.root} clip {row.clip_id} (manifest.parquet)"
        check_frames(where, "context_frames", int(row.context_frames), uses_memory, stride)
        check_frames(where, "target_frames", int(row.target_frames), uses_memory, stride)
        h = int(data.height or row.height)
        w = int(data.width or row.width)
        for name, v in (("height", h), ("width", w)):
            if v % mult:
                src = f"model.data.{name}" if getattr(data, name) else f"{name} (the split's)"
                raise SplitError(f"{where}: {src}={v} is not a multiple of {mult} (VAE stride 8 x patch size); "
                                 f"set model.data.{name}={max(mult, v // mult * mult)} to resize/crop to it")
        g = FrameGeometry(int(row.context_frames), int(row.target_frames), h, w)
        if geom is not None and g != geom:
            raise SplitError(f"{where}: {g} differs from the other clips' {geom}; one batch needs one geometry "
                             "(set model.data.height/width to resize every clip to one size)")
        geom = g
    return geom


def resize_crop(frames: np.ndarray, height: int, width: int) -> torch.Tensor:
    """uint8 ``[T, H, W, 3]`` -> float ``[3, T, height, width]`` in [-1, 1]: scale to cover, then centre-crop."""
    x = torch.from_numpy(np.ascontiguousarray(frames)).permute(0, 3, 1, 2).float()  # [T, 3, H, W]
    h, w = x.shape[-2:]
    if (h, w) != (height, width):
        scale = max(height / h, width / w)
        nh, nw = max(height, round(h * scale)), max(width, round(w * scale))
        x = F.interpolate(x, size=(nh, nw), mode="bilinear", align_corners=False, antialias=True)
        top, left = (nh - height) // 2, (nw - width) // 2
        x = x[:, :, top: top + height, left: left + width]
    return (x / 127.5 - 1.0).clamp(-1, 1).permute(1, 0, 2, 3).contiguous()


@dataclass
class ClipSample:
    clip_id: str
    context: torch.Tensor  # [3, Tc, H, W] in [-1, 1]
    target: torch.Tensor  # [3, Tt, H, W]
    camera: torch.Tensor  # [Lc + Lt, 12] float32, context first
    num_context_latents: int
    caption: str


class SplitClipDataset(torch.utils.data.Dataset):
    """Decoded clips of a split at the model's geometry (what `hmworld cache` encodes)."""

    def __init__(self, split: Split | str | Path, model_cfg):
        self.split = split if isinstance(split, Split) else Split(split)
        self.geometry = geometry_for(self.split, model_cfg)

    def __len__(self) -> int:
        return len(self.split)

    def __getitem__(self, i: int) -> ClipSample:
        clip = self.split[i]
        g = self.geometry
        frames = clip.frames(0, g.context_frames + g.target_frames)
        if len(frames) != g.context_frames + g.target_frames:
            raise SplitError(f"{clip.video_path}: {len(frames)} frames decoded, the manifest says "
                             f"context_frames + target_frames = {g.context_frames + g.target_frames}")
        video = resize_crop(frames, g.height, g.width)
        camera = clip_camera(clip, g)
        return ClipSample(clip.clip_id, video[:, : g.context_frames], video[:, g.context_frames:], camera,
                          g.context_latents, clip.caption)


def clip_camera(clip, g: FrameGeometry) -> torch.Tensor:
    c2w = clip.camera.c2w
    if len(c2w) != g.context_frames + g.target_frames:
        raise SplitError(f"{clip.path('camera_path')}: field c2w has {len(c2w)} poses, the clip has "
                         f"{g.context_frames} + {g.target_frames} frames")
    ctx, tgt = relative_camera_vectors(c2w[: g.context_frames], c2w[g.context_frames:])
    return torch.from_numpy(np.concatenate([ctx, tgt]))


class CachedLatentDataset(torch.utils.data.Dataset):
    """Cached latents, camera vectors and text embeddings of a split (written by `hmworld cache`)."""

    def __init__(self, split: Split | str | Path, model_cfg, cache_dir: str | Path | None = None):
        from .cache import LatentCache

        self.split = split if isinstance(split, Split) else Split(split)
        self.geometry = geometry_for(self.split, model_cfg)
        self.cache = LatentCache(self.split, model_cfg, cache_dir)
        missing = self.cache.missing()
        if missing:
            raise SplitError(
                f"cache {self.cache.root}: {len(missing)} of {len(self.split)} clips have no (current) cache entry "
                f"for this model, e.g. {missing[:3]}; run `hmworld cache split={self.split.root} model=...` with the "
                "same model settings first")
        self.max_length = self.cache.max_length

    def __len__(self) -> int:
        return len(self.split)

    def __getitem__(self, i: int) -> dict:
        entry = self.cache.load(self.split[i])
        return entry


def collate(items: list[dict], max_length: int) -> dict:
    """Stack latents and cameras; zero-pad text embeddings to ``max_length`` tokens (as Wan pads to 512)."""
    dim = items[0]["text"].shape[-1]
    text = torch.zeros(len(items), max_length, dim, dtype=torch.float32)
    for i, it in enumerate(items):
        n = min(max_length, it["text"].shape[0])
        text[i, :n] = it["text"][:n].float()
    return {
        "latents": torch.stack([it["latents"].float() for it in items]),
        "camera": torch.stack([it["camera"].float() for it in items]),
        "text": text,
        "num_context": int(items[0]["num_context"]),
        "clip_id": [it["clip_id"] for it in items],
    }
