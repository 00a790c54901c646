"""PSNR and SSIM: pure functions over uint8 [T, H, W, 3] arrays."""
from __future__ import annotations

from dataclasses import dataclass, field

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


def _ssim_maps_mean(x, y, kernel):
    """Mean SSIM per image over the valid region. x, y: float64 torch [N, C, H, W] in [0, 1]."""
    import torch.nn.functional as F

    c = x.shape[1]
    kh = kernel.view(1, 1, -1, 1).expand(c, 1, -1, 1)
    kw = kernel.view(1, 1, 1, -1).expand(c, 1, 1, -1)

    def blur(z):
        # Separable, unpadded: only the valid region, which is exactly what skimage keeps after cropping.
        return F.conv2d(F.conv2d(z, kh, groups=c), kw, groups=c)

    mx, my = blur(x), blur(y)
    # Population (not sample) covariance, as use_sample_covariance=False.
    vx = blur(x * x) - mx * mx
    vy = blur(y * y) - my * my
    cxy = blur(x * y) - mx * my
    c1, c2 = SSIM_K1 ** 2, SSIM_K2 ** 2
    s = ((2 * mx * my + c1) * (2 * cxy + c2)) / ((mx * mx + my * my + c1) * (vx + vy + c2))
    # Equal-sized channel maps: mean over channels of channel means == mean over everything.
    return s.mean(dim=(1, 2, 3))


def ssim(pred: np.ndarray, target: np.ndarray, batch_frames: int = 8) -> FrameMetric:
    """SSIM per frame (Gaussian 11/1.5, RGB channels averaged, data range 1), averaged over frames."""
    import torch

    check_pair(pred, target, min_size=SSIM_WINDOW)
    kernel = torch.from_numpy(gaussian_kernel())
    out = []
    with torch.no_grad():
        for i in range(0, pred.shape[0], batch_frames):
            # float64 so that the parity with skimage (which works in float64) holds to ~1e-12, not ~1e-6.
            x = torch.from_numpy(pred[i:i + batch_frames]).permute(0, 3, 1, 2).double() / 255.0
            y = torch.from_numpy(target[i:i + batch_frames]).permute(0, 3, 1, 2).double() / 255.0
            out.append(_ssim_maps_mean(x, y, kernel).numpy())
    per_frame = np.concatenate(out)
    return FrameMetric(float(per_frame.mean()), per_frame)
