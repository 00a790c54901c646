"""Camera conditioning: per-frame poses -> the model's 12-number vectors per latent frame.

As the released HyDRA code: for latent frame i, ``rel_i = inv(c2w_ref) @ c2w_i`` with ``c2w_ref`` the first target
frame's pose; one pose per latent frame (video frames 0, 4, 8, ... of each half, since Wan's VAE encodes 4k+1
frames into k+1 latents and each half is encoded separately); ``rel_i[:3, :4]`` flattened row-major.
Poses are camera-to-world 4x4, OpenCV camera axes, metres (the project convention).
"""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import torch

from hmworld.ue_axes import ue_c2w_to_opencv

from .components import VAE_TEMPORAL_STRIDE


def latent_frame_poses(c2w: np.ndarray, temporal_stride: int = VAE_TEMPORAL_STRIDE) -> np.ndarray:
    """Poses of the video frames that start each latent frame: 0, 4, 8, ... (needs 4k+1 frames)."""
    c2w = np.asarray(c2w, float)
    if c2w.ndim != 3 or c2w.shape[1:] != (4, 4):
        raise ValueError(f"expected camera-to-world poses [frames, 4, 4], got {c2w.shape}")
    if (c2w.shape[0] - 1) % temporal_stride:
        raise ValueError(
            f"{c2w.shape[0]} frames: Wan's VAE encodes {temporal_stride}k+1 frames per half "
            f"(e.g. 21 or 77), so each half needs a frame count of that form"
        )
    return c2w[::temporal_stride]


def relative_camera_vectors(
    c2w_context: np.ndarray, c2w_target: np.ndarray, temporal_stride: int = VAE_TEMPORAL_STRIDE
) -> tuple[np.ndarray, np.ndarray]:
    """(context [Lc, 12], target [Lt, 12]) relative pose vectors, float32, reference = first target frame."""
    ctx = latent_frame_poses(c2w_context, temporal_stride)
    tgt = latent_frame_poses(c2w_target, temporal_stride)
    inv_ref = np.linalg.inv(tgt[0])
    rel = inv_ref[None] @ np.concatenate([ctx, tgt])
    vec = rel[:, :3, :4].reshape(len(rel), 12).astype(np.float32)
    return vec[: len(ctx)], vec[len(ctx):]


def camera_input(c2w_context: np.ndarray, c2w_target: np.ndarray, temporal_stride: int = VAE_TEMPORAL_STRIDE):
    """The model's ``camera`` ``[1, Lc + Lt, 12]`` (context first) and ``num_context_frames`` = Lc."""
    ctx, tgt = relative_camera_vectors(c2w_context, c2w_target, temporal_stride)
    return torch.from_numpy(np.concatenate([ctx, tgt]))[None], len(ctx)


def load_released_camera_json(path: str | Path) -> tuple[np.ndarray, np.ndarray]:
    """The released HyDRA example camera JSON -> (context, target) OpenCV camera-to-world poses in metres.

    Format: ``{"cond_cam": {"0": 4x4, ...}, "tgt_cam": {...}}``, each an Unreal camera-to-world matrix written
    row-major with the translation (cm) in the last column. Converted through `hmworld.ue_axes`.
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"camera JSON not found: {path}")
    data = json.loads(path.read_text())
    halves = []
    for name in ("cond_cam", "tgt_cam"):
        if name not in data:
            raise ValueError(f"{path}: no {name!r} entry (expected the released HyDRA camera format)")
        frames = data[name]
        keys = sorted(frames, key=int)
        if [int(k) for k in keys] != list(range(len(keys))):
            raise ValueError(f"{path}: {name} frame keys are not 0..{len(keys) - 1}")
        mats = np.array([np.asarray(frames[k], float).reshape(4, 4) for k in keys])
        halves.append(ue_c2w_to_opencv(mats))
    return halves[0], halves[1]
