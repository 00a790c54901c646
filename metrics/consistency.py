"""VBench subject consistency (DINO) and background consistency (CLIP) over uint8 videos."""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable, Optional

import numpy as np

from .conventions import DINO_PATCH, VBENCH_CLIP_SIZE, VBENCH_DINO_SIZE
from .frames import check_video

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)
CLIP_MEAN = (0.48145466, 0.4578275, 0.40821073)
CLIP_STD = (0.26862954, 0.26130258, 0.27577711)


@dataclass(frozen=True)
class ConsistencyResult:
    """`value` = mean of the per-frame terms; `total` and `count` let a split be frame-weighted as vbench."""

    value: float
    total: float
    count: int
    per_frame: np.ndarray = field(repr=False)   # the T-1 terms s_1 .. s_(T-1)


def _as_float255(frames: np.ndarray, device):
    import torch

    # vbench turns decoded uint8 frames into a float tensor of 0..255 *before* resizing (torch.Tensor(...)),
    # so the resize works on floats with no rounding back to uint8; we do the same.
    return torch.from_numpy(np.ascontiguousarray(frames)).to(device).permute(0, 3, 1, 2).contiguous().float()


def dino_preprocess(frames: np.ndarray, device="cpu"):
    """VBench DINO preprocessing: short side to 224 (bilinear, no antialias), crop to multiples of 16
    (bottom/right, what DINO's stride-16 patch embedding drops anyway), /255, ImageNet normalisation."""
    import torchvision.transforms.functional as TF

    x = TF.resize(_as_float255(frames, device), VBENCH_DINO_SIZE, antialias=False)
    h, w = x.shape[-2:]
    x = x[..., : h - h % DINO_PATCH, : w - w % DINO_PATCH] / 255.0
    return TF.normalize(x, IMAGENET_MEAN, IMAGENET_STD)


def clip_preprocess(frames: np.ndarray, device="cpu"):
    """VBench CLIP preprocessing: short side to 224 (bicubic, no antialias), centre crop 224, /255, CLIP norm."""
    import torchvision.transforms.functional as TF
    from torchvision.transforms import InterpolationMode

    x = TF.resize(_as_float255(frames, device), VBENCH_CLIP_SIZE, interpolation=InterpolationMode.BICUBIC,
                  antialias=False)
    x = TF.center_crop(x, VBENCH_CLIP_SIZE) / 255.0
    return TF.normalize(x, CLIP_MEAN, CLIP_STD)


def consistency_terms(features: np.ndarray) -> np.ndarray:
    """VBench's per-frame terms from [T, D] features: s_i = (max(0, cos(f_(i-1), f_i)) + max(0, cos(f_0, f_i)))/2."""
    f = np.asarray(features, dtype=np.float64)
    f = f / np.maximum(np.linalg.norm(f, axis=1, keepdims=True), 1e-12)
    cos_prev = np.einsum("ij,ij->i", f[:-1], f[1:])
    cos_first = f[1:] @ f[0]
    return (np.maximum(cos_prev, 0.0) + np.maximum(cos_first, 0.0)) / 2.0


def _features(frames: np.ndarray, preprocess: Callable, encode: Callable, device, batch_frames: int):
    import torch

    out = []
    with torch.inference_mode():
        for i in range(0, frames.shape[0], batch_frames):
            x = preprocess(frames[i:i + batch_frames], device)
            out.append(encode(x).float().cpu().numpy())
    return np.concatenate(out)


def _result(features: np.ndarray) -> ConsistencyResult:
    terms = consistency_terms(features)
    return ConsistencyResult(float(terms.mean()), float(terms.sum()), int(terms.size), terms)


def _consistency(video: np.ndarray, model, device, batch_frames: int, load, preprocess, encoder) -> ConsistencyResult:
    """Both VBench consistencies: `load(models)` gets the default model when none is given, `encoder(model)` is
    what turns preprocessed frames into features."""
    check_video(video, "video", min_frames=2)
    if model is None:
        from .models import default_models

        model = load(default_models(device=device))
    dev = next(model.parameters()).device
    return _result(_features(video, preprocess, encoder(model), dev, batch_frames))


def subject_consistency(video: np.ndarray, model=None, device: Optional[str] = None,
                        batch_frames: int = 16) -> ConsistencyResult:
    """VBench subject consistency of one video with DINO ViT-B/16 CLS features (model: models.load_dino)."""
    return _consistency(video, model, device, batch_frames, lambda models: models.get_dino(), dino_preprocess,
                        lambda dino: dino)


def background_consistency(video: np.ndarray, model=None, device: Optional[str] = None,
                           batch_frames: int = 16) -> ConsistencyResult:
    """VBench background consistency of one video with CLIP ViT-B/32 image embeddings (model: models.load_clip)."""
    return _consistency(video, model, device, batch_frames, lambda models: models.get_clip(), clip_preprocess,
                        lambda clip: clip.encode_image)
