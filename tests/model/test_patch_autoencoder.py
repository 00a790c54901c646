"""The tiny model's linear patch autoencoder: layout (Wan's 4k+1 -> k+1 strides), exactness on its subspace,
deterministic fit, identity checks, the held-out PSNR ceiling on a rendered split, and the path through cache,
training (the checkpoint carries it) and generation (decoding with it)."""
from __future__ import annotations

import shutil
import subprocess
import sys
from dataclasses import dataclass

import numpy as np
import pytest
import torch
from hydra import compose, initialize_config_module

from hmworld.errors import ConfigError, SplitError
from hmworld.metrics.pixel import psnr
from hmworld.model.cache import LatentCache
from hmworld.model.components import FrameGeometry
from hmworld.model.patch_autoencoder import (FitSettings, PatchAutoencoder, fit, group_patches, first_patches,
                                             holdout_ids, to_uint8, ungroup, unfirst)
from hmworld.split import Split
from tests.model.testlib import tiny_model_cfg


CHANNELS = tiny_model_cfg()["vae"]["channels"]


@dataclass
class FakeClip:
    clip_id: str


def _low_rank_videos(n: int, rank: int, seed: int = 0, t: int = 21, size: int = 32) -> dict:
    """Videos whose first-frame and 4-frame-group patches all lie in a rank-`rank` affine subspace."""
    g = torch.Generator().manual_seed(seed)
    out = {}
    base_f, base_g = torch.randn(rank, 192, generator=g) * 0.1, torch.randn(rank, 768, generator=g) * 0.1
    mean_f, mean_g = torch.randn(192, generator=g) * 0.1, torch.randn(768, generator=g) * 0.1
    k, hw = (t - 1) // 4, size // 8
    for i in range(n):
        cf = torch.randn(2, hw, hw, rank, generator=g)
        cg = torch.randn(2, k, hw, hw, rank, generator=g)
        halves = [torch.cat([unfirst(cf[h: h + 1] @ base_f + mean_f), ungroup(cg[h: h + 1] @ base_g + mean_g)], dim=2)
                  for h in range(2)]
        out[f"c{i}"] = torch.cat(halves, dim=2)[0]  # [3, 2t, size, size]
    return out


def test_patch_layout_follows_the_vae_strides():
    """Latent frame 0 reads video frame 0 only; latent frame j reads frames 4j-3..4j; a latent pixel one 8x8 block."""
    video = torch.rand(1, 3, 9, 16, 24) * 2 - 1
    torch.testing.assert_close(unfirst(first_patches(video)), video[:, :, :1])
    torch.testing.assert_close(ungroup(group_patches(video)), video[:, :, 1:])
    clips = {"a": torch.rand(3, 18, 16, 24) * 2 - 1}
    ae = fit([FakeClip("a")], lambda c: clips[c.clip_id], FrameGeometry(9, 9, 16, 24), FitSettings(channels=8), "x")
    z = ae.encode(video)
    assert z.shape == (1, 8, 3, 2, 3)
    bumped = video.clone()
    bumped[:, :, 6, 8:16, 16:24] += 0.5  # frame 6 -> latent frame 2 (frames 5..8), block (1, 2)
    diff = (ae.encode(bumped) - z).abs().amax(dim=1)[0]
    changed = torch.nonzero(diff > 1e-6).tolist()
    assert changed == [[2, 1, 2]]
    bumped = video.clone()
    bumped[:, :, 0, :8, :8] += 0.5  # the first frame has its own latent frame
    assert torch.nonzero((ae.encode(bumped) - z).abs().amax(dim=1)[0] > 1e-6).tolist() == [[0, 0, 0]]


def test_exact_on_its_subspace_and_deterministic():
    vids = _low_rank_videos(3, rank=6)
    clips = [FakeClip(c) for c in vids]
    g = FrameGeometry(21, 21, 32, 32)
    ae = fit(clips, lambda c: vids[c.clip_id], g, FitSettings(channels=6, max_patches=10_000), "id")
    for v in vids.values():
        for half in (v[None, :, :21], v[None, :, 21:]):
            torch.testing.assert_close(ae.reconstruct(half), half.clamp(-1, 1), atol=2e-5, rtol=0)
    # fewer channels than the data's rank: no longer exact (the test above could fail)
    ae4 = fit(clips, lambda c: vids[c.clip_id], g, FitSettings(channels=4, max_patches=10_000), "id")
    half = vids["c0"][None, :, :21]
    assert (ae4.reconstruct(half) - half).abs().max() > 1e-2
    # the same fit, clips listed in another order: the same bytes; another seed draws other patches
    again = fit(clips[::-1], lambda c: vids[c.clip_id], g, FitSettings(channels=6, max_patches=10_000), "id")
    assert again.to_bytes() == ae.to_bytes()
    sub = fit(clips, lambda c: vids[c.clip_id], g, FitSettings(channels=6, max_patches=300, seed=1), "id")
    sub2 = fit(clips, lambda c: vids[c.clip_id], g, FitSettings(channels=6, max_patches=300, seed=2), "id")
    assert sub.to_bytes() != sub2.to_bytes()
    # latents have mean variance 1 over channels (the DiT's noise scale) on the fitting data
    z = torch.cat([ae.encode(v[None, :, 21:])[:, :, 1:] for v in vids.values()])
    assert 0.8 < float(z.var(dim=(0, 2, 3, 4)).mean()) < 1.2


def test_file_round_trip_and_tampering(tmp_path):
    vids = _low_rank_videos(1, rank=4)
    ae = fit([FakeClip("c0")], lambda c: vids[c.clip_id], FrameGeometry(21, 21, 32, 32), FitSettings(channels=4),
             "ident-1")
    path = ae.save(tmp_path / "ae.safetensors")
    back = PatchAutoencoder.load(path)
    assert back.identity == "ident-1" and back.to_bytes() == ae.to_bytes()
    from safetensors.torch import load_file, save_file
    from safetensors import safe_open

    with safe_open(str(path), framework="pt") as f:
        meta = f.metadata()
    t = load_file(str(path))
    t["group.mean"][0] += 1.0
    save_file(t, str(tmp_path / "bad.safetensors"), metadata=meta)
    with pytest.raises(ConfigError, match="do not match the hash"):
        PatchAutoencoder.load(tmp_path / "bad.safetensors")
    (tmp_path / "junk.safetensors").write_bytes(b"not a file")
    with pytest.raises(ConfigError, match="not a readable"):
        PatchAutoencoder.load(tmp_path / "junk.safetensors")


def test_holdout_is_seeded_and_never_everything():
    ids = [f"c{i}" for i in range(10)]
    assert holdout_ids(ids, 0.2, 0) == holdout_ids(ids[::-1], 0.2, 0) and len(holdout_ids(ids, 0.2, 0)) == 2
    assert holdout_ids(ids, 0.2, 0) != holdout_ids(ids, 0.2, 5)
    assert holdout_ids(["a", "b"], 0.2, 0) in (["a"], ["b"]) and holdout_ids(["a"], 0.5, 0) == []


# ------------------------------------------------------------------------------------------------ on a split
@pytest.fixture(scope="module")
def pca_split(tiny_split, tmp_path_factory):
    """The tiny split copied, cached with model=tiny (patch_pca, its default channel count)."""
    dst = tmp_path_factory.mktemp("pca") / "split"
    shutil.copytree(tiny_split, dst, ignore=shutil.ignore_patterns("cache"))
    report = LatentCache(dst, tiny_model_cfg()).build()
    return dst, report


def test_cache_fits_reports_the_held_out_ceiling_and_encodes_with_it(pca_split):
    split_dir, report = pca_split
    split = Split(split_dir)
    assert report.autoencoder_fitted and report.autoencoder.is_file()
    m = report.autoencoder_meta
    assert m["psnr_on"] == "held-out" and len(m["psnr_clips"]) == 1 and len(m["fit_clips"]) == 1
    assert set(m["psnr_clips"]).isdisjoint(m["fit_clips"])
    # the ceiling is a real reconstruction (fitted here on one clip only): far above a mid-grey frame (~13 dB on
    # these renders; the former random VAE scored below it)
    held = split[m["psnr_clips"][0]]
    grey = psnr(np.full_like(held.target(), 128), held.target()).value
    assert m["psnr_db"] > max(18.0, grey + 6), (m["psnr_db"], grey)
    # cached latents are this autoencoder's encoding of each half, and decode to the clip at that PSNR
    cache = LatentCache(split_dir, tiny_model_cfg())
    ae, fitted = cache.autoencoder()
    assert not fitted and ae.identity == report.autoencoder_meta["identity"]
    video = cache._decoded(held)
    lat = cache.load_latents(held)
    assert lat.shape == (CHANNELS, 12, 8, 8)
    torch.testing.assert_close(lat[:, :6], ae.encode(video[None, :, :21])[0])
    rec = to_uint8(ae.decode(lat[None, :, 6:])[0])
    assert abs(psnr(rec, held.target()).value - psnr(to_uint8(ae.reconstruct(video[None, :, 21:])[0]),
                                                      held.target()).value) < 1e-6
    # a rerun loads it (nothing refitted), and encodes nothing
    again = LatentCache(split_dir, tiny_model_cfg()).build()
    assert not again.autoencoder_fitted and again.latents_encoded == 0


def test_identity_mismatch_and_missing_file_are_clear_errors(pca_split, tmp_path):
    split_dir, report = pca_split
    copy = tmp_path / "split"
    shutil.copytree(split_dir, copy)
    cache = LatentCache(copy, tiny_model_cfg())
    # an autoencoder of another split content under this split's file name: refused, naming both identities
    other = fit([FakeClip("c0")], lambda c: _low_rank_videos(1, 4, t=21, size=64)["c0"],
                FrameGeometry(21, 21, 64, 64), FitSettings(channels=CHANNELS, max_patches=5000), "someone-else")
    other.save(cache.autoencoder_path)
    with pytest.raises(ConfigError, match="fitted on other clips or settings"):
        cache.autoencoder()
    cache.autoencoder_path.unlink()
    with pytest.raises(SplitError, match="run `hmworld cache"):
        cache.autoencoder()
    # model.vae.file: another cache's autoencoder, taken as it is; its channel count must agree
    cfg = tiny_model_cfg()
    cfg["vae"]["file"] = str(report.autoencoder)
    assert LatentCache(copy, cfg).vae_ident["identity"] == report.autoencoder_meta["identity"]
    cfg["vae"]["channels"] = CHANNELS + 1
    with pytest.raises(ConfigError, match=f"fitted with {CHANNELS} channels"):
        LatentCache(copy, cfg)


def test_checkpoint_carries_the_autoencoder_and_generation_decodes_with_it(pca_split, tmp_path):
    from hmworld.model.generate import Generator
    from hmworld.model.trained import read_checkpoint_meta
    from hmworld.model.training import run_training

    split_dir, report = pca_split
    with initialize_config_module(config_module="hmworld.render_configs", version_base="1.3"):
        cfg = compose(config_name="train", overrides=[f"split={split_dir}", f"out={tmp_path / 'run'}",
                                                       "trainer.accelerator=cpu", "trainer.max_steps=2"])
    ckpt = run_training(cfg, progress=False)["checkpoint"]
    meta = read_checkpoint_meta(ckpt)
    assert meta["autoencoder"]["meta"]["identity"] == report.autoencoder_meta["identity"]
    gen = Generator(ckpt)
    assert gen.autoencoder_identity == report.autoencoder_meta["identity"]
    clip = Split(split_dir)[0]
    lat = LatentCache(split_dir, gen.model_cfg, autoencoder_identity=gen.autoencoder_identity).load_latents(clip)
    frames = gen.decode(lat[None, :, 6:], 64, 64)  # the ground truth's latents through generation's decoder
    ae, _ = LatentCache(split_dir, tiny_model_cfg()).autoencoder()
    video = LatentCache(split_dir, tiny_model_cfg())._decoded(clip)
    np.testing.assert_array_equal(frames, to_uint8(ae.reconstruct(video[None, :, 21:])[0]))
    assert psnr(frames, clip.target()).value > 18


def test_cli_cache_prints_the_ceiling_and_bad_file_is_one_line(pca_split, tmp_path):
    split_dir, _ = pca_split
    run = lambda *a: subprocess.run([sys.executable, "-m", "hmworld", "cache", *a, "progress=false"],  # noqa: E731
                                    capture_output=True, text=True, timeout=300)
    proc = run(f"split={split_dir}")
    assert proc.returncode == 0, proc.stderr
    assert "ceiling" in proc.stdout and "held-out" in proc.stdout and "loaded" in proc.stdout
    proc = run(f"split={split_dir}", f"model.vae.file={tmp_path / 'nope.safetensors'}")
    assert proc.returncode == 2 and "Traceback" not in proc.stderr
    assert "patch autoencoder file not found" in proc.stderr and len(proc.stderr.strip().splitlines()) == 1
