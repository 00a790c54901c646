"""PSNR and SSIM: pure functions over uint8 [T, H, W, 3] arrays."""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Sequence

import numpy as np

from .conventions import PSNR_CAP_DB, SSIM_K1, SSIM_K2, SSIM_SIGMA, SSIM_WINDOW
from .frames import check_pair


@dataclass(frozen=True)
class FrameMetric:
    """A per-frame metric of one video: `value` is the mean of `per_frame`."""

    value: float
    per_frame: np.ndarray = field(repr=False)


@dataclass(frozen=True)
class PSNRResult(FrameMetric):
    capped_frames: int = 0          # frames that hit the cap (identical, or nearly, to the target)
    cap_db: float = PSNR_CAP_DB


def psnr(pred: np.ndarray, target: np.ndarray, cap_db: float = PSNR_CAP_DB) -> PSNRResult:
    """Per-frame PSNR with data range 1, capped at `cap_db`, averaged over frames."""
    check_pair(pred, target)
    t = pred.shape[0]
    # Integer arithmetic gives the exact MSE of 8-bit frames (no float round-off near identity).
    diff = pred.reshape(t, -1).astype(np.int32) - target.reshape(t, -1).astype(np.int32)
    sse = np.einsum("ij,ij->i", diff, diff, dtype=np.int64).astype(np.float64)
    mse = sse / (diff.shape[1] * 255.0 ** 2)
    with np.errstate(divide="ignore"):
        per_frame = np.where(mse > 0, -10.0 * np.log10(np.maximum(mse, 1e-300)), np.inf)
    capped = per_frame >= cap_db
    per_frame = np.minimum(per_frame, cap_db)
    return PSNRResult(float(per_frame.mean()), per_frame, int(capped.sum()), float(cap_db))


def gaussian_kernel(window: int = SSIM_WINDOW, sigma: float = SSIM_SIGMA) -> np.ndarray:
    """Normalised 1-D Gaussian taps: the same taps scipy.ndimage.gaussian_filter uses for skimage's SSIM
    (radius int(3.5 * sigma + 0.5) = 5 for sigma 1.5, i.e. 11 taps)."""
    radius = window // 2
    x = np.arange(-radius, radius + 1, dtype=np.float64)
    k = np.exp(-0.5 * (x / sigma) ** 2)
    return k / k.sum()


def _blur_valid(z, taps: Sequence[float]):
    """Separable Gaussian over the last two axes, valid region only (what skimage keeps after cropping).

    Shift-and-add over views: ~3x faster on CPU than torch's depthwise conv2d (slow for 1-D kernels) or
    scipy's correlate1d, and the same numbers."""
    n = len(taps)
    w = z.shape[-1] - n + 1
    out = z[..., :w] * taps[0]
    for i in range(1, n):
        out.add_(z[..., i:i + w], alpha=taps[i])
    h = z.shape[-2] - n + 1
    res = out[..., :h, :] * taps[0]
    for i in range(1, n):
        res.add_(out[..., i:i + h, :], alpha=taps[i])
    return res


def _ssim_per_image(x, y, taps: Sequence[float]):
    """Mean SSIM per image over the valid region. x, y: float torch [N, C, H, W] in [0, 1]."""
    # Centre the values: variances come from E[x^2] - E[x]^2, and with |x| <= 0.5 float32 keeps ~1e-7
    # absolute accuracy there (C2 = 9e-4), so the float32 result matches skimage's float64 to ~1e-6 (3e-6 measured on bright,
    # nearly identical frames, the worst case), well inside the 1e-4 contract at 3-4x float64's speed.
    x = x - 0.5
    y = y - 0.5
    mx, my = _blur_valid(x, taps), _blur_valid(y, taps)
    # Population (not sample) covariance, as use_sample_covariance=False.
    vx = _blur_valid(x * x, taps) - mx * mx
    vy = _blur_valid(y * y, taps) - my * my
    cxy = _blur_valid(x * y, taps) - mx * my
    mx, my = mx + 0.5, my + 0.5       # the luminance term needs the true means
    c1, c2 = SSIM_K1 ** 2, SSIM_K2 ** 2
    s = ((2 * mx * my + c1) * (2 * cxy + c2)) / ((mx * mx + my * my + c1) * (vx + vy + c2))
    # Equal-sized channel maps: mean over channels of channel means == mean over everything.
    return s.double().mean(dim=(1, 2, 3))


def ssim(pred: np.ndarray, target: np.ndarray, batch_frames: int = 2) -> FrameMetric:
    """SSIM per frame (Gaussian 11/1.5, RGB channels averaged, data range 1), averaged over frames."""
    import torch

    check_pair(pred, target, min_size=SSIM_WINDOW)
    taps = [float(v) for v in gaussian_kernel()]
    out = []
    with torch.inference_mode():
        for i in range(0, pred.shape[0], batch_frames):
            # contiguous planar layout: the shifted-view adds run ~8x faster than on the permuted view,
            # and a few frames at a time stay in cache.
            x = torch.from_numpy(pred[i:i + batch_frames]).permute(0, 3, 1, 2).contiguous().float() / 255.0
            y = torch.from_numpy(target[i:i + batch_frames]).permute(0, 3, 1, 2).contiguous().float() / 255.0
            out.append(_ssim_per_image(x, y, taps).numpy())
    per_frame = np.concatenate(out)
    return FrameMetric(float(per_frame.mean()), per_frame)
