"""Loading the learned metrics' models through their libraries' own loading code.

Each loader takes `weights_dir`, resolves the file (weights.py), and builds the model with the same class
and library entry point in production and in the tests; the tests pass `arch` overrides to build a tiny
model of the same class, save it, and load it back here.
"""
from __future__ import annotations

import os
import warnings
import zipfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Optional

from . import weights as W
from hmworld.devices import select_device

DINO_NAME = "vit_base_patch16_224.dino"
CLIP_NAME = "ViT-B-32-quickgelu"   # the OpenAI weights were trained with QuickGELU


def load_lpips(weights_dir=None, device: Optional[str] = None, allow_download: Optional[bool] = None):
    """lpips.LPIPS AlexNet v0.1: packaged linear heads + torchvision AlexNet trunk resolved via weights_dir."""
    import lpips
    import torch

    lin_path = W.resolve(W.SPECS["lpips_lin"], weights_dir, allow_download)
    trunk_path = W.resolve(W.SPECS["lpips_alexnet"], weights_dir, allow_download)
    # pnet_rand=True stops lpips from asking torchvision to download the trunk; we load it ourselves below.
    with warnings.catch_warnings():
        # lpips still calls torchvision's deprecated `pretrained=` argument; the warning is noise here.
        warnings.simplefilter("ignore", UserWarning)
        model = lpips.LPIPS(net="alex", version="0.1", pretrained=True, pnet_rand=True, model_path=str(lin_path),
                            verbose=False)
    state = torch.load(trunk_path, map_location="cpu", weights_only=True)
    features = {k[len("features."):]: v for k, v in state.items() if k.startswith("features.")}
    # lpips splits torchvision's `features` Sequential into slices that keep the original indices.
    mapped = {}
    for name, _ in model.net.named_parameters():
        slice_name, rest = name.split(".", 1)
        if rest not in features:
            raise ValueError(f"{trunk_path}: not a torchvision AlexNet state dict (no features.{rest})")
        mapped[name] = features[rest]
    model.net.load_state_dict(mapped, strict=True)
    return model.eval().to(select_device(device))


def dino_resample_pos_embed(pos_embed, rows: int, cols: int, frame_hw: tuple[int, int]):
    """The position embedding [1, 1 + N, D] for a rows x cols patch grid, resampled the way the DINO
    repository's VisionTransformer.interpolate_pos_encoding does (VBench loads that class): left as is when the
    grid has N patches and the frame (before the patch embedding drops its remainder) is square; otherwise the
    sqrt(N) x sqrt(N) grid is resized bicubically (align_corners off) with the *scale factors*
    ((rows + 0.1) / sqrt(N), (cols + 0.1) / sqrt(N)), which also set the sampling positions. timm's
    dynamic-size resampling instead resizes to the target size (other sampling positions, and it resamples a
    square frame whose remainder is dropped), which differs by up to ~1e-4 in VBench's score."""
    import math

    import torch
    import torch.nn.functional as F

    n = pos_embed.shape[1] - 1
    if rows * cols == n and frame_hw[0] == frame_hw[1]:
        return pos_embed
    side = int(math.sqrt(n))
    dim = pos_embed.shape[-1]
    grid = pos_embed[:, 1:].float().reshape(1, side, side, dim).permute(0, 3, 1, 2)
    grid = F.interpolate(grid, scale_factor=((rows + 0.1) / side, (cols + 0.1) / side), mode="bicubic",
                         align_corners=False)
    if tuple(grid.shape[-2:]) != (rows, cols):
        raise RuntimeError(f"DINO position-embedding resize gave {tuple(grid.shape[-2:])}, expected {(rows, cols)}")
    grid = grid.permute(0, 2, 3, 1).reshape(1, rows * cols, dim).to(pos_embed.dtype)
    return torch.cat([pos_embed[:, :1], grid], dim=1)


def _patch_crop_module():
    import types

    import torch
    import torch.nn as nn

    def dino_pos_embed(vit, x):
        # timm's _pos_embed for a class-token ViT with dynamic size, with DINO's resampling (above).
        b, rows, cols, c = x.shape
        pos = dino_resample_pos_embed(vit.pos_embed, rows, cols, vit._dino_frame_hw)
        x = torch.cat([vit.cls_token.expand(b, -1, -1), x.reshape(b, rows * cols, c)], dim=1) + pos
        return vit.pos_drop(x)

    class DinoViT(nn.Module):
        """timm's ViT behaving like the DINO repository's model on any frame size: DINO's stride-16 patch
        embedding silently drops the bottom/right remainder (timm asserts divisibility, so crop first), and
        DINO resamples the position embedding its own way (dino_resample_pos_embed). Also a drop-in for
        vbench's `subject_consistency(model, ...)`."""

        def __init__(self, vit):
            super().__init__()
            if vit.reg_token is not None or vit.no_embed_class or not vit.dynamic_img_size:
                raise ValueError("DINO ViT: expected a class-token ViT with dynamic_img_size=True")
            self.vit = vit
            self.patch = int(vit.patch_embed.patch_size[0])
            vit._pos_embed = types.MethodType(dino_pos_embed, vit)

        def forward(self, x):
            h, w = x.shape[-2:]
            self.vit._dino_frame_hw = (int(h), int(w))
            return self.vit(x[..., : h - h % self.patch, : w - w % self.patch])

    return DinoViT


def load_dino(weights_dir=None, device: Optional[str] = None, allow_download: Optional[bool] = None,
              arch: Optional[dict] = None):
    """timm vit_base_patch16_224.dino with dynamic image size (any resized frame shape)."""
    import timm

    path = W.resolve(W.SPECS["dino_vitb16"], weights_dir, allow_download)
    # timm's own pretrained loader (with its checkpoint filter) reads both the timm safetensors file and the
    # DINO repository's .pth: same parameter names.
    model = timm.create_model(DINO_NAME, pretrained=True, pretrained_cfg_overlay={"file": str(path)},
                              num_classes=0, dynamic_img_size=True, **(arch or {}))
    return _patch_crop_module()(model).eval().to(select_device(device))


def _is_torchscript(path: Path) -> bool:
    # OpenAI's ViT-B-32.pt is a TorchScript archive (constants.pkl + code/); torch.save zips are not.
    try:
        with zipfile.ZipFile(path) as z:
            return any(n.endswith("constants.pkl") for n in z.namelist())
    except zipfile.BadZipFile:
        return False


def load_clip(weights_dir=None, device: Optional[str] = None, allow_download: Optional[bool] = None,
              arch: Optional[dict] = None):
    """open_clip ViT-B-32-quickgelu with OpenAI weights. Returns the model (eval, on device)."""
    import open_clip
    import torch

    path = W.resolve(W.SPECS["clip_vitb32"], weights_dir, allow_download)
    if _is_torchscript(path):
        model = open_clip.create_model(CLIP_NAME, pretrained=None, **(arch or {}))
        state = torch.jit.load(str(path), map_location="cpu").state_dict()
        expected = model.state_dict().keys()
        missing = sorted(set(expected) - set(state))
        if missing:
            raise ValueError(f"{path}: TorchScript CLIP archive lacks {len(missing)} tensors, e.g. {missing[:3]}")
        # The archive also holds scalars (input_resolution, context_length, vocab_size) and traced buffers
        # that open_clip keeps out of its state dict; every parameter open_clip has must be there (strict).
        model.load_state_dict({k: state[k] for k in expected}, strict=True)
    else:
        model = open_clip.create_model(CLIP_NAME, pretrained=str(path), **(arch or {}))
    return model.eval().to(select_device(device))


def clip_crop_transform(clip_model) -> Callable:
    """open_clip's eval preprocessing for PIL crops (short side to 224 bicubic, centre crop, CLIP mean/std)."""
    from open_clip.transform import PreprocessCfg, image_transform_v2

    cfg = getattr(clip_model.visual, "preprocess_cfg", None) or {}
    return image_transform_v2(PreprocessCfg(**cfg), is_train=False)


def load_yolo(weights_dir=None, name: str = W.DEFAULT_YOLO, allow_download: Optional[bool] = None):
    """An ultralytics YOLO11 model from the resolved checkpoint file."""
    from ultralytics import YOLO

    path = W.resolve(W.yolo_spec(name), weights_dir, allow_download)
    return YOLO(str(path), task="detect")


@dataclass
class MetricModels:
    """Models shared by every clip of a scoring run, loaded on first use (or injected, e.g. by tests).

    `detector` is anything with the Detector interface (detection.py); `embedder` embeds crops for DSC.
    """

    weights_dir: Optional[str] = None
    device: Optional[str] = None
    allow_download: Optional[bool] = None
    yolo_weights: str = W.DEFAULT_YOLO
    lpips: Any = None
    dino: Any = None
    clip: Any = None
    detector: Any = None
    embedder: Any = None
    _device: str = field(init=False, default="cpu")

    def __post_init__(self):
        self._device = select_device(self.device)
        # HMWORLD_WEIGHTS_DIR lets a whole scoring run point at one folder without threading an argument.
        if self.weights_dir is None:
            self.weights_dir = os.environ.get("HMWORLD_WEIGHTS_DIR") or None

    def _loaded(self, name: str, load):
        """The model in field `name`, loaded with `load` on first use (a field set by the caller is kept)."""
        if getattr(self, name) is None:
            setattr(self, name, load(self.weights_dir, self._device, self.allow_download))
        return getattr(self, name)

    def get_lpips(self):
        return self._loaded("lpips", load_lpips)

    def get_dino(self):
        return self._loaded("dino", load_dino)

    def get_clip(self):
        return self._loaded("clip", load_clip)

    def get_detector(self):
        if self.detector is None:
            from .detection import YoloDetector

            self.detector = YoloDetector(load_yolo(self.weights_dir, self.yolo_weights, self.allow_download),
                                         device=self._device, name=Path(self.yolo_weights).name)
        return self.detector

    def get_embedder(self):
        if self.embedder is None:
            from .detection import ClipCropEmbedder

            self.embedder = ClipCropEmbedder(self.get_clip(), device=self._device)
        return self.embedder


_DEFAULTS: dict = {}


def default_models(weights_dir=None, device: Optional[str] = None) -> MetricModels:
    """A process-wide MetricModels per (weights_dir, device), so repeated calls load each model once."""
    key = (str(weights_dir) if weights_dir else None, select_device(device))
    if key not in _DEFAULTS:
        _DEFAULTS[key] = MetricModels(weights_dir=key[0], device=key[1])
    return _DEFAULTS[key]
