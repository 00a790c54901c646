"""Flow-matching schedule and sampler, one training step per retrieval mode, trainable groups, checkpoints
(atomic writes, resume with the same step count, round trip, refusing another configuration)."""
from __future__ import annotations

import copy
import csv

import pytest
import torch
from hydra import compose, initialize_config_module

from hmworld.errors import ConfigError, HMWorldError
from hmworld.model.dataset import CachedLatentDataset, collate
from hmworld.model.sampling import FlowMatchSchedule, euler_sample, sampling_sigmas, shift_sigmas
from hmworld.model.trained import CheckpointConfigError, load_trained_transformer, read_checkpoint_meta
from hmworld.model.training import AtomicCheckpointIO, HyDRAFlowMatchingModule, run_training
from tests.model.testlib import model_overrides


def test_schedule_shift_weighting_and_training_pair():
    s = FlowMatchSchedule(1000, shift=5.0, weighting="gaussian")
    assert s.sigmas[0] == pytest.approx(1.0) and s.sigmas[-1] == pytest.approx(5e-3 / (1 + 4e-3), rel=1e-4)
    assert torch.all(s.sigmas[1:] < s.sigmas[:-1])
    torch.testing.assert_close(shift_sigmas(torch.tensor([0.5]), 5.0), torch.tensor([5 * 0.5 / (1 + 4 * 0.5)]))
    assert s.weights.mean().item() == pytest.approx(1.0, abs=1e-5)
    peak = s.timesteps[s.weights.argmax()].item()
    assert abs(peak - 500) < 5  # the bump is centred at t = 500
    assert s.weights.min().item() == pytest.approx(0.0, abs=1e-6)
    assert torch.all(FlowMatchSchedule(1000, 5.0, "none").weights == 1)
    g = torch.Generator().manual_seed(0)
    x0, noise = torch.randn(2, 4, 3, generator=g), torch.randn(2, 4, 3, generator=g)
    idx = torch.tensor([0, 999])
    noisy, target, t, w = s.training_pair(x0, noise, idx)
    sig = s.sigmas[idx].view(2, 1, 1)
    torch.testing.assert_close(noisy, (1 - sig) * x0 + sig * noise)
    torch.testing.assert_close(target, noise - x0)
    torch.testing.assert_close(t, s.sigmas[idx] * 1000)


def test_euler_sampler_recovers_x0_for_the_exact_velocity():
    """With the true velocity of a straight path the Euler sampler lands exactly on x0 for any steps/shift."""
    g = torch.Generator().manual_seed(1)
    x0, noise = torch.randn(1, 3, 2, generator=g), torch.randn(1, 3, 2, generator=g)
    calls = []
    out = euler_sample(lambda x, t: (calls.append(t), noise - x0)[1], noise, steps=7, shift=3.0)
    torch.testing.assert_close(out, x0, atol=1e-5, rtol=0)
    assert len(calls) == 7 and calls[0].item() == pytest.approx(1000.0) and calls[-1].item() > 0
    sig = sampling_sigmas(7, 3.0)
    assert sig[0] == 1 and sig[-1] == 0 and len(sig) == 8


def _module(model_cfg, mode="dynamic", trainable="all", **train):
    cfg = copy.deepcopy(model_cfg)
    cfg["transformer"]["config"]["retrieval_mode"] = mode
    return HyDRAFlowMatchingModule(cfg, {"trainable": trainable, "caption_dropout": 0.5, **train}, {"lr": 1e-3},
                                   {"num_train_timesteps": 1000, "shift": 5.0, "weighting": "gaussian"}, seed=0)


@pytest.mark.parametrize("mode", ["dynamic", "fov", "full", "local"])
def test_one_training_step_per_retrieval_mode(cached_split, model_cfg, mode):
    ds = CachedLatentDataset(cached_split, model_cfg)
    batch = collate([ds[0], ds[1]], ds.max_length)
    m = _module(model_cfg, mode)
    opt = torch.optim.AdamW([p for p in m.parameters() if p.requires_grad], lr=1e-3)
    before = {n: p.detach().clone() for n, p in m.transformer.named_parameters()}
    loss, mse, t = m.flow_loss(batch, torch.Generator().manual_seed(0))
    assert torch.isfinite(loss) and loss.item() > 0 and 0 < t.item() <= 1000
    loss.backward()
    opt.step()
    changed = [n for n, p in m.transformer.named_parameters() if not torch.equal(before[n], p.detach())]
    assert any("cam_encoder_tgt" in n for n in changed) and any("proj_out" in n for n in changed)
    if mode in ("dynamic", "fov"):
        assert any("tokenizer" in n for n in changed)
    # the same (seed, step, rank) draws the same noise, timesteps and dropout: the loss is reproducible
    m2 = _module(model_cfg, mode)
    loss2, _, _ = m2.flow_loss(batch, torch.Generator().manual_seed(0))
    m3 = _module(model_cfg, mode)
    loss3, _, _ = m3.flow_loss(batch, torch.Generator().manual_seed(0))
    assert loss2.item() == loss3.item()


def test_released_recipe_trains_only_self_attention_groups(model_cfg):
    m = _module(model_cfg, "dynamic", trainable="hydra")
    trainable = {n for n, p in m.transformer.named_parameters() if p.requires_grad}
    assert trainable and all(".attn1." in n for n in trainable)
    for group in ("cam_encoder_con", "cam_encoder_tgt", "projector", "tokenizer", "to_q", "to_k", "to_v", "norm_k"):
        assert any(group in n for n in trainable), group
    frozen = {n for n, p in m.transformer.named_parameters() if not p.requires_grad}
    assert any(".attn2." in n for n in frozen) and any(".ffn." in n for n in frozen) and "proj_out.weight" in frozen
    with pytest.raises(ConfigError, match="train.trainable"):
        _module(model_cfg, trainable="some")


def test_checkpoint_write_is_atomic(tmp_path):
    io = AtomicCheckpointIO()
    path = tmp_path / "last.ckpt"
    io.save_checkpoint({"a": torch.ones(3)}, path)
    good = path.read_bytes()
    with pytest.raises(Exception):
        io.save_checkpoint({"a": torch.zeros(3), "bad": lambda: None}, path)  # fails while serialising
    assert path.read_bytes() == good and sorted(p.name for p in tmp_path.iterdir()) == ["last.ckpt"]


def _train_cfg(split, out, assets, *extra):
    with initialize_config_module(config_module="hmworld.render_configs", version_base="1.3"):
        return compose(config_name="train", overrides=[
            f"split={split}", f"out={out}", *model_overrides(assets["vae"], assets["text"]),
            "trainer.accelerator=cpu", "checkpoint.every_n_steps=2", *extra])


def test_training_resumes_with_the_same_step_count_and_checkpoints_round_trip(cached_split, tiny_assets, model_cfg,
                                                                               tmp_path):
    out = tmp_path / "run"
    r1 = run_training(_train_cfg(cached_split, out, tiny_assets, "trainer.max_steps=3"), progress=False)
    assert r1["global_step"] == 3 and r1["resumed_from"] is None
    ckpts = sorted(p.name for p in (out / "checkpoints").iterdir())
    assert ckpts == ["last.ckpt", "step00000002.ckpt"]  # step 3 went to last.ckpt (max_steps is no multiple of 2)
    assert read_checkpoint_meta(out / "checkpoints" / "last.ckpt")["global_step"] == 3
    # rerun with more steps: continues from step 3, metrics.csv holds every step exactly once
    r2 = run_training(_train_cfg(cached_split, out, tiny_assets, "trainer.max_steps=5"), progress=False)
    assert r2["global_step"] == 5 and r2["resumed_from"] is not None
    rows = list(csv.DictReader(open(out / "metrics.csv")))
    assert [int(r["step"]) for r in rows] == [1, 2, 3, 4, 5]
    assert all(float(r["train_loss"]) >= 0 and float(r["train_mse"]) > 0 for r in rows)
    assert list((out / "tensorboard").glob("events.out.tfevents.*"))
    # round trip: the loaded transformer holds exactly the checkpoint's weights
    model, used_cfg, meta = load_trained_transformer(out / "checkpoints" / "last.ckpt")
    state = torch.load(out / "checkpoints" / "last.ckpt", map_location="cpu", weights_only=False)["state_dict"]
    for k, v in model.state_dict().items():
        torch.testing.assert_close(v, state["transformer." + k])
    assert meta["global_step"] == 5 and used_cfg["transformer"]["config"]["num_layers"] == 2
    # the LightningModule is a top-level class, so Lightning itself can rebuild it from the checkpoint
    module = HyDRAFlowMatchingModule.load_from_checkpoint(out / "checkpoints" / "last.ckpt", map_location="cpu")
    for k, v in module.transformer.state_dict().items():
        torch.testing.assert_close(v, state["transformer." + k])
    # another configuration is refused, naming the file and the field
    other = copy.deepcopy(model_cfg)
    other["transformer"]["config"]["num_layers"] = 3
    with pytest.raises(CheckpointConfigError, match=r"(?s)last.ckpt.*model.transformer.config.num_layers: checkpoint has 2, this run has 3"):
        load_trained_transformer(out / "checkpoints" / "last.ckpt", other)
    with pytest.raises(CheckpointConfigError, match="num_attention_heads"):
        run_training(_train_cfg(cached_split, out, tiny_assets, "trainer.max_steps=6",
                                "model.transformer.config.num_attention_heads=4"), progress=False)
    # a file that is not a checkpoint is named
    bad = tmp_path / "bad.ckpt"
    bad.write_bytes(b"not a checkpoint")
    with pytest.raises(HMWorldError, match="bad.ckpt"):
        load_trained_transformer(bad)


def test_wan_config_names_missing_weights(tmp_path):
    """`model=wan_1_3b` composes; without the weights every loader names the setting and the path."""
    from omegaconf import OmegaConf

    from hmworld.model.components import build_text_encoder, build_transformer, build_vae

    with initialize_config_module(config_module="hmworld.render_configs", version_base="1.3"):
        cfg = compose(config_name="train", overrides=["split=x", "out=y", "model=wan_1_3b",
                                                      f"model.root={tmp_path / 'no_wan'}"])
    assert cfg.train.trainable == "hydra" and cfg.optim.lr == 1e-5 and cfg.train.caption_dropout == 0.0
    model = OmegaConf.to_container(cfg.model, resolve=True)
    for build, key in ((build_transformer, "model.transformer.pretrained"), (build_vae, "model.vae.pretrained"),
                       (build_text_encoder, "model.text_encoder.pretrained")):
        with pytest.raises(ConfigError, match=f"{key}={tmp_path / 'no_wan'}"):
            build(model)
    # a repo id offline: the error names the cache it looked in and the switch (nothing is downloaded)
    model["vae"]["pretrained"] = "Wan-AI/Wan2.1-T2V-1.3B-Diffusers"
    with pytest.raises(ConfigError, match=r"model.vae.pretrained=Wan-AI/Wan2.1-T2V-1.3B-Diffusers: VAE not found: .*"
                                          r"models--Wan-AI--Wan2.1-T2V-1.3B-Diffusers; downloads are off"):
        build_vae(model)
