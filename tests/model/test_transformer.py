"""The tiny HyDRA transformer: every mode runs forward/backward; degenerate settings equal plain attention/Wan."""
from __future__ import annotations

import pytest
import torch
from diffusers import WanTransformer3DModel

from hmworld.model import HyDRATransformer3DModel, MemoryTokenizer
from hmworld.model.rope import grid_positions, memory_rotary_emb, rope_at_positions

TINY = dict(
    patch_size=(1, 2, 2), num_attention_heads=2, attention_head_dim=32, in_channels=16, out_channels=16,
    text_dim=64, freq_dim=32, ffn_dim=128, num_layers=2,
)


def _inputs(g, frames=12, h=8, w=10, batch=1):
    x = torch.randn(batch, 16, frames, h, w, generator=g)
    t = torch.full((batch,), 500.0)
    text = torch.randn(batch, 7, 64, generator=g)
    cam = torch.randn(batch, frames, 12, generator=g) * 0.5
    return x, t, text, cam


def _tiny(seed, **kw):
    torch.manual_seed(seed)  # diffusers' layers draw their init from the global generator
    return HyDRATransformer3DModel(**{**TINY, **kw}).eval()


def _randomise_hydra(model, g):
    """Non-trivial camera encoders and projector, so they are exercised (they start as zero / identity)."""
    with torch.no_grad():
        for p in model.processors:
            for lin in (p.cam_encoder_con, p.cam_encoder_tgt, p.projector):
                lin.weight.add_(torch.randn(lin.weight.shape, generator=g) * 0.05)


@pytest.mark.parametrize("mode", ["dynamic", "fov", "full", "local"])
def test_every_mode_runs_forward_and_backward(gen, mode):
    g = gen(0)
    model = _tiny(0, retrieval_mode=mode, top_k=2, window_size=3)
    _randomise_hydra(model, g)
    model.train()
    x, t, text, cam = _inputs(g)
    out = model(x, t, text, camera=cam, num_context_frames=6, return_retrieval_indices=True)
    assert out.sample.shape == x.shape
    out.sample.square().mean().backward()
    procs = model.processors
    for p in procs:
        assert p.cam_encoder_tgt.weight.grad.abs().sum() > 0
        assert p.projector.weight.grad.abs().sum() > 0
        if p.tokenizer is not None:  # memory tokens were read, so the tokenizer learns
            assert p.tokenizer.conv.weight.grad.abs().sum() > 0
    if mode in ("dynamic", "fov"):
        assert len(out.retrieval_indices) == 2
        idx = out.retrieval_indices[0]
        assert idx.shape == (1, 12, 2) and idx.min() >= 0 and idx.max() < 6
    else:
        assert out.retrieval_indices == []


@pytest.mark.parametrize("mode", ["local", "dynamic"])
def test_window_over_all_frames_and_no_memory_equals_dense(gen, mode):
    g = gen(1)
    model = _tiny(1, retrieval_mode=mode, top_k=0, window_size=12)
    _randomise_hydra(model, g)
    dense = _tiny(1, retrieval_mode="full")
    dense.load_state_dict(model.state_dict(), strict=False)
    x, t, text, cam = _inputs(g)
    with torch.no_grad():
        a = model(x, t, text, camera=cam).sample
        b = dense(x, t, text, camera=cam).sample
    torch.testing.assert_close(a, b, atol=1e-5, rtol=1e-5)


def test_full_mode_on_converted_wan_reproduces_wan(gen, tmp_path):
    g = gen(2)
    torch.manual_seed(2)
    wan = WanTransformer3DModel(**TINY).eval()
    wan.save_pretrained(tmp_path / "wan")
    model = HyDRATransformer3DModel.from_pretrained(tmp_path / "wan", retrieval_mode="full", torch_dtype=torch.float32)
    x, t, text, cam = _inputs(g, frames=6)
    with torch.no_grad():
        ref = wan(x, t, text).sample
        out = model(x, t, text, camera=cam).sample  # zero camera encoders: the camera changes nothing yet
    torch.testing.assert_close(out, ref, atol=1e-6, rtol=1e-6)
    # ...and once the camera encoders are trained, the camera does change the prediction
    with torch.no_grad():
        model.processors[0].cam_encoder_tgt.weight.normal_(generator=g)
        assert not torch.allclose(model(x, t, text, camera=cam).sample, ref, atol=1e-4)


def test_camera_reaches_only_the_attention_input(gen):
    g = gen(3)
    model = _tiny(3, retrieval_mode="full")
    with torch.no_grad():
        for p in model.processors:
            p.cam_encoder_con.weight.normal_(generator=g)
            p.cam_encoder_tgt.weight.normal_(generator=g)
    x, t, text, cam = _inputs(g, frames=4)
    with torch.no_grad():
        moved = model(x, t, text, camera=cam, num_context_frames=2).sample
        still = model(x, t, text, camera=None, num_context_frames=2).sample
        assert not torch.allclose(moved, still, atol=1e-4)
        # with the attention branch silenced the camera has no path left: it is not in the residual stream
        for p in model.processors:
            p.projector.weight.zero_()
        silenced = model(x, t, text, camera=cam, num_context_frames=2).sample
        torch.testing.assert_close(silenced, model(x, t, text, camera=None, num_context_frames=2).sample)
    # context frames use the context encoder, target frames the target encoder
    proc = model.processors[0]
    emb = proc.camera_embedding(cam, 2)
    torch.testing.assert_close(emb[:, :2], proc.cam_encoder_con(cam[:, :2]))
    torch.testing.assert_close(emb[:, 2:], proc.cam_encoder_tgt(cam[:, 2:]))


def test_saved_hydra_model_round_trips(gen, tmp_path):
    g = gen(4)
    model = _tiny(4, retrieval_mode="dynamic", top_k=3, memory_kernel=(2, 2, 2))
    _randomise_hydra(model, g)
    model.save_pretrained(tmp_path / "h")
    again = HyDRATransformer3DModel.from_pretrained(tmp_path / "h")
    assert again.config.retrieval_mode == "dynamic" and again.config.top_k == 3
    x, t, text, cam = _inputs(g)
    with torch.no_grad():
        torch.testing.assert_close(again(x, t, text, camera=cam).sample, model(x, t, text, camera=cam).sample)


def test_mode_switch_and_errors(gen):
    g = gen(5)
    model = _tiny(5, retrieval_mode="dynamic", top_k=2)
    x, t, text, cam = _inputs(g, frames=6)
    model.set_retrieval_mode("fov")
    with pytest.raises(ValueError, match="camera"):
        model(x, t, text)
    with torch.no_grad():
        out = model(x, t, text, camera=cam, return_retrieval_indices=True)
    assert out.retrieval_indices[0].shape == (1, 6, 2)
    with pytest.raises(ValueError, match="camera must be"):
        model(x, t, text, camera=cam[:, :5])
    with pytest.raises(ValueError, match="retrieval_mode"):
        _tiny(5, retrieval_mode="hydra")
    local = _tiny(5, retrieval_mode="local")
    with pytest.raises(ValueError, match="tokenizer"):
        local.set_retrieval_mode("dynamic")


def test_fov_mode_retrieves_the_frames_that_look_the_same_way(gen):
    # 8 latent frames; memory stride 2 -> 4 memory frames. Frames 0-1 and 6-7 look along +z, the rest turn away.
    import math

    def yaw(a):
        c, s = math.cos(a), math.sin(a)
        return torch.tensor([[c, 0, s, 0], [0, 1, 0, 0], [-s, 0, c, 0]], dtype=torch.float32).reshape(12)

    angles = [0, 0, 2.0, 2.2, 2.4, 2.6, 0, 0]
    cam = torch.stack([yaw(a) for a in angles])[None]
    from hmworld.model.fov import fov_memory_affinity

    aff = fov_memory_affinity(cam, 4, 2, aspect=1.0)
    assert aff[0, 6, 0] == 1.0 and aff[0, 6, 1] < 0.5
    from hmworld.model.retrieval import select_memory_frames

    idx = select_memory_frames(aff, num_frames=8, top_k=1, window_size=3, mem_stride=2)
    assert idx[0, 7, 0].item() == 0  # the last frame reads memory frame 0 (frames 0-1), same view direction


def test_tokenizer_pads_odd_grids_and_memory_rope_positions(gen):
    g = gen(6)
    tok = MemoryTokenizer(8, (2, 4, 4))
    x = torch.randn(1, 5 * 6 * 7, 8, generator=g)
    mem, mem_grid = tok(x, (5, 6, 7))
    assert mem_grid == (3, 2, 2) and mem.shape == (1, 12, 8)
    # replicate padding: the last memory frame sees frame 4 twice, i.e. equals a conv over [f4, f4]
    grid_x = x.view(1, 5, 6, 7, 8)
    last = torch.cat([grid_x[:, 4:5], grid_x[:, 4:5]], 1)
    mem2, _ = tok(last.reshape(1, -1, 8), (2, 6, 7))
    torch.testing.assert_close(mem.view(1, 3, 4, 8)[:, 2], mem2.view(1, 1, 4, 8)[:, 0])
    # memory RoPE: time 2f + 0.5, space stride * index; integer positions agree with ordinary tokens
    cos, sin = memory_rotary_emb((3, 2, 2), (2, 4, 4), 32)
    t, y, xx = grid_positions((3, 2, 2), scale=(2, 4, 4), offset=(0.5, 0, 0))
    assert t.tolist()[::4] == [0.5, 2.5, 4.5] and y.tolist()[:4] == [0, 0, 4, 4]
    c2, s2 = rope_at_positions(t, y, xx, 32)
    assert torch.equal(cos, c2) and torch.equal(sin, s2)
    cos1, _ = memory_rotary_emb((2, 2, 2), (1, 1, 1), 32)
    c_int, _ = rope_at_positions(*grid_positions((2, 2, 2)), 32)
    assert torch.equal(cos1, c_int)


def test_gradient_checkpointing_gives_the_same_gradients(gen):
    g = gen(7)
    x, t, text, cam = _inputs(g, frames=6)
    grads = []
    for ckpt in (False, True):
        model = _tiny(7, retrieval_mode="dynamic", top_k=2).train()
        if ckpt:
            model.enable_gradient_checkpointing()
        model(x, t, text, camera=cam).sample.square().mean().backward()
        grads.append({n: p.grad.clone() for n, p in model.hydra_trainable_parameters()})
    assert grads[0].keys() == grads[1].keys() and any(".processor.tokenizer." in n for n in grads[0])
    for n in grads[0]:
        torch.testing.assert_close(grads[1][n], grads[0][n], atol=1e-6, rtol=1e-5)
    model = _tiny(7)
    names = {n for n, _ in model.hydra_trainable_parameters()}
    assert "blocks.0.attn1.to_q.weight" in names and "blocks.0.attn1.processor.projector.weight" in names
    assert not any(".attn2." in n or ".ffn." in n for n in names)
