"""train.pixel_weight: the latent loss weighted per channel by the patch autoencoder's pixel variances; at 1 it is
the decoded video's MSE (up to a constant), at 0 the plain latent MSE; refused for a VAE without those variances."""
from __future__ import annotations

import copy

import pytest
import torch

from hmworld.errors import ConfigError
from hmworld.model.patch_autoencoder import Basis, PatchAutoencoder
from hmworld.model.training import HyDRAFlowMatchingModule, run_training
from tests.model.test_training import _train_cfg
from tests.model.testlib import tiny_model_cfg

C = 4


def _autoencoder() -> PatchAutoencoder:
    """Orthonormal bases with very unequal scales (as PCA's: the first direction dominates), zero means."""
    g = torch.Generator().manual_seed(0)
    bases = {}
    for kind, dim, scales in (("first", 192, [0.05, 0.02, 0.01, 0.002]), ("group", 768, [0.08, 0.03, 0.01, 0.004])):
        q, _ = torch.linalg.qr(torch.randn(dim, C, generator=g, dtype=torch.float64))
        s = torch.tensor(scales)
        bases[kind] = Basis(torch.zeros(dim), q.T.float().contiguous(), (s.double() ** 2), s.float())
    return PatchAutoencoder(bases, {"identity": "test"})


def _module(pixel_weight: float):
    cfg = tiny_model_cfg()
    cfg["vae"]["channels"] = C
    cfg["transformer"]["config"].update(in_channels=C, out_channels=C)
    m = HyDRAFlowMatchingModule(copy.deepcopy(cfg), {"trainable": "all", "pixel_weight": pixel_weight}, {"lr": 1e-3},
                                {"num_train_timesteps": 1000, "shift": 5.0, "weighting": "none"}, seed=0)
    m.autoencoder = _autoencoder()
    return m


def _weighted(m, dz: torch.Tensor) -> float:
    w = m.channel_weights(dz.shape[2])
    sq = dz.square().mean(dim=(3, 4))
    return float(sq.mean() if w is None else (sq * w).mean())


def test_pixel_weight_one_is_the_decoded_videos_mse():
    m1, m0 = _module(1.0), _module(0.0)
    ae = m1.autoencoder
    w = m1.channel_weights(3)
    assert w.shape == (C, 3) and w.mean().item() == pytest.approx(1.0)
    assert m0.channel_weights(3) is None
    g = torch.Generator().manual_seed(1)
    ratios1, ratios0 = [], []
    for spread in ([1.0, 1.0, 1.0, 1.0], [0.1, 1.0, 3.0, 5.0], [4.0, 0.2, 0.2, 0.2]):
        z = torch.randn(1, C, 3, 2, 3, generator=g)   # a target half of 9 frames at 16x24
        dz = torch.randn(1, C, 3, 2, 3, generator=g) * torch.tensor(spread).view(1, C, 1, 1, 1)
        pix = float((ae.decode(z + dz) - ae.decode(z)).square().mean())
        ratios1.append(pix / _weighted(m1, dz))
        ratios0.append(pix / _weighted(m0, dz))
    # pixel_weight=1: the same constant for errors in any channels; the plain latent MSE is not proportional
    assert max(ratios1) / min(ratios1) == pytest.approx(1.0, abs=1e-4)
    assert max(ratios0) / min(ratios0) > 5


def test_pixel_weight_half_lies_between():
    w = _module(0.5).channel_weights(2)
    var = torch.stack([torch.tensor([0.05, 0.02, 0.01, 0.002]) ** 2, torch.tensor([0.08, 0.03, 0.01, 0.004]) ** 2], 1)
    torch.testing.assert_close(w, var.sqrt() / var.sqrt().mean())


def test_pixel_weight_is_refused_without_a_patch_autoencoder_or_when_negative(cached_split, tiny_assets, tmp_path):
    # the shared cached split is on the tiny Wan VAE (model.vae.kind=wan): no pixel variances to weight with
    with pytest.raises(ConfigError, match=r"train.pixel_weight=1.0 needs model.vae.kind=patch_pca"):
        run_training(_train_cfg(cached_split, tmp_path / "a", tiny_assets, "train.pixel_weight=1.0"), progress=False)
    with pytest.raises(ConfigError, match=r"train.pixel_weight=-1.0: use a number >= 0"):
        run_training(_train_cfg(cached_split, tmp_path / "b", tiny_assets, "train.pixel_weight=-1.0"), progress=False)
