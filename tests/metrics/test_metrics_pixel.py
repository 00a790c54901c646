"""PSNR and SSIM: analytic values, the cap, skimage parity, input errors."""
import numpy as np
import pytest
from skimage.metrics import structural_similarity

from hmworld.metrics import PSNR_CAP_DB, MetricInputError, psnr, ssim


def _natural(t=3, h=48, w=64, seed=0):
    """Smooth structure plus fine texture, so SSIM exercises both its luminance and structure terms."""
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0:h, 0:w] / 8.0
    base = np.stack([np.sin(xx + k) * np.cos(yy - k) for k in range(3)], -1) * 80 + 128
    vid = np.stack([base + rng.normal(0, 12, base.shape) + 10 * i for i in range(t)])
    return np.clip(vid, 0, 255).astype(np.uint8)


def test_identical_frames_give_finite_cap_and_ssim_one():
    v = _natural()
    r = psnr(v, v)
    assert r.value == PSNR_CAP_DB and np.isfinite(r.per_frame).all()
    assert r.capped_frames == v.shape[0] and r.cap_db == PSNR_CAP_DB
    assert ssim(v, v).value == pytest.approx(1.0, abs=1e-12)


def test_gaussian_noise_matches_closed_form_psnr():
    rng = np.random.default_rng(1)
    target = np.full((4, 96, 160, 3), 128, np.uint8)
    sigma = 10.0   # in 8-bit levels; mid-grey keeps clipping away, rounding adds 1/12 level^2 (0.004 dB)
    pred = np.clip(np.round(128 + rng.normal(0, sigma, target.shape)), 0, 255).astype(np.uint8)
    expected = 10 * np.log10(255.0 ** 2 / sigma ** 2)
    r = psnr(pred, target)
    assert abs(r.value - expected) < 0.05
    assert r.capped_frames == 0


def test_psnr_is_per_frame_mean_not_pooled():
    target = np.full((2, 32, 32, 3), 100, np.uint8)
    pred = target.copy()
    pred[0] += 1          # MSE (1/255)^2  -> 48.13 dB
    pred[1] += 20         # MSE (20/255)^2 -> 22.11 dB
    per_frame = [20 * np.log10(255 / 1), 20 * np.log10(255 / 20)]
    pooled = 10 * np.log10(255 ** 2 / ((1 + 400) / 2))
    r = psnr(pred, target)
    np.testing.assert_allclose(r.per_frame, per_frame, atol=1e-9)
    assert r.value == pytest.approx(np.mean(per_frame), abs=1e-9)
    assert abs(r.value - pooled) > 5


@pytest.mark.parametrize("seed, noise, offset", [(0, 25, -15), (1, 25, -15), (2, 1.5, 0)])
def test_ssim_matches_skimage(seed, noise, offset):
    target = _natural(seed=seed)
    if offset == 0:     # bright, nearly identical frames: the float32 variance cancellation worst case
        target = np.clip(target.astype(int) // 8 + 225, 0, 255).astype(np.uint8)
    rng = np.random.default_rng(seed + 10)
    pred = np.clip(target.astype(int) + rng.normal(0, noise, target.shape) + offset, 0, 255).astype(np.uint8)
    ours = ssim(pred, target)
    ref = [structural_similarity(p / 255.0, t / 255.0, gaussian_weights=True, sigma=1.5,
                                 use_sample_covariance=False, data_range=1, channel_axis=-1)
           for p, t in zip(pred, target)]
    np.testing.assert_allclose(ours.per_frame, ref, atol=1e-4)
    assert abs(ours.value - np.mean(ref)) < 1e-4
    assert abs(ours.value - np.mean(ref)) < 1e-5      # in practice well inside the 1e-4 contract
    assert 0.05 < ours.value < 0.995    # a real, non-degenerate comparison


def test_shape_and_dtype_errors_name_the_fault():
    v = _natural()
    with pytest.raises(MetricInputError, match="frame count"):
        psnr(v, v[:2])
    with pytest.raises(MetricInputError, match="frame size"):
        ssim(v, v[:, :40])
    with pytest.raises(MetricInputError, match="uint8"):
        psnr(v.astype(np.float32), v)
    with pytest.raises(MetricInputError, match=r"\[T, H, W, 3\]"):
        psnr(v[..., 0], v[..., 0])
    with pytest.raises(MetricInputError, match="11-pixel window"):
        ssim(v[:, :8, :8], v[:, :8, :8])
