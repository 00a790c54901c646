"""Checkpoint mapping with the real key names: original Wan, diffusers Wan, released HyDRA (DiffSynth)."""
from __future__ import annotations

import json

import pytest
import torch
from diffusers import WanTransformer3DModel
from safetensors.torch import save_file

from hmworld.model import (
    WAN21_T2V_1_3B_CONFIG,
    CheckpointMismatchError,
    HyDRATransformer3DModel,
    hydra_to_diffusers,
    load_hydra_checkpoint,
)

TINY = dict(
    patch_size=(1, 2, 2), num_attention_heads=2, attention_head_dim=32, in_channels=16, out_channels=16,
    text_dim=64, freq_dim=32, ffn_dim=128, num_layers=2,
)


def original_wan_shapes(dim, heads, ffn_dim, num_layers, in_dim=16, out_dim=16, text_dim=4096, freq_dim=256,
                        patch=(1, 2, 2)):
    """Key -> shape of the original Wan2.1 T2V transformer (the names in Wan-AI's release and in DiffSynth)."""
    shapes = {
        "patch_embedding.weight": (dim, in_dim, *patch), "patch_embedding.bias": (dim,),
        "text_embedding.0.weight": (dim, text_dim), "text_embedding.0.bias": (dim,),
        "text_embedding.2.weight": (dim, dim), "text_embedding.2.bias": (dim,),
        "time_embedding.0.weight": (dim, freq_dim), "time_embedding.0.bias": (dim,),
        "time_embedding.2.weight": (dim, dim), "time_embedding.2.bias": (dim,),
        "time_projection.1.weight": (6 * dim, dim), "time_projection.1.bias": (6 * dim,),
        "head.head.weight": (out_dim * 4, dim), "head.head.bias": (out_dim * 4,), "head.modulation": (1, 2, dim),
    }
    for i in range(num_layers):
        b = f"blocks.{i}."
        shapes[b + "modulation"] = (1, 6, dim)
        for att in ("self_attn", "cross_attn"):
            for p in "qkvo":
                shapes[f"{b}{att}.{p}.weight"] = (dim, dim)
                shapes[f"{b}{att}.{p}.bias"] = (dim,)
            shapes[f"{b}{att}.norm_q.weight"] = (dim,)
            shapes[f"{b}{att}.norm_k.weight"] = (dim,)
        shapes[b + "norm3.weight"] = (dim,)  # the cross-attention norm (diffusers calls it norm2)
        shapes[b + "norm3.bias"] = (dim,)
        shapes[b + "ffn.0.weight"] = (ffn_dim, dim)
        shapes[b + "ffn.0.bias"] = (ffn_dim,)
        shapes[b + "ffn.2.weight"] = (dim, ffn_dim)
        shapes[b + "ffn.2.bias"] = (dim,)
    return shapes


def hydra_extra_shapes(dim, num_layers, kernel=(2, 2, 2)):
    """The released HyDRA checkpoint's own modules (DiffSynth names)."""
    shapes = {}
    for i in range(num_layers):
        b = f"blocks.{i}."
        shapes[b + "self_attn.tokenizer.conv.weight"] = (dim, dim, *kernel)
        shapes[b + "self_attn.tokenizer.conv.bias"] = (dim,)
        for enc in ("cam_encoder_tgt", "cam_encoder_con"):
            shapes[f"{b}{enc}.weight"] = (dim, 12)
            shapes[f"{b}{enc}.bias"] = (dim,)
        shapes[b + "projector.weight"] = (dim, dim)
        shapes[b + "projector.bias"] = (dim,)
    return shapes


def random_state(shapes, g):
    return {k: torch.randn(s, generator=g) for k, s in shapes.items()}


def tiny_original(g):
    return random_state(original_wan_shapes(64, 2, 128, 2, text_dim=64, freq_dim=32), g)


def test_full_1_3b_configuration_matches_the_mapping_exactly():
    with torch.device("meta"):
        model = HyDRATransformer3DModel(**WAN21_T2V_1_3B_CONFIG, retrieval_mode="dynamic")
    ours = {k: tuple(v.shape) for k, v in model.state_dict().items()}
    released = {**original_wan_shapes(1536, 12, 8960, 30), **hydra_extra_shapes(1536, 30)}
    mapped = hydra_to_diffusers({k: torch.empty(s, device="meta") for k, s in released.items()})
    assert {k: tuple(v.shape) for k, v in mapped.items()} == ours
    n_wan = sum(v.numel() for k, v in model.state_dict().items() if ".processor." not in k)
    n_tok = model.processors[0].tokenizer.conv.weight.numel() + 1536
    assert 1.3e9 < n_wan < 1.5e9 and n_tok == 18_875_904  # ~18.9M tokenizer parameters per block


def test_original_format_folder_loads_through_diffusers_converter(gen, tmp_path):
    g = gen(0)
    sd = tiny_original(g)
    save_file({k: v.contiguous() for k, v in sd.items()}, str(tmp_path / "diffusion_pytorch_model.safetensors"))
    (tmp_path / "config.json").write_text(json.dumps(
        {"_class_name": "WanModel", "model_type": "t2v", "dim": 64, "ffn_dim": 128, "freq_dim": 32, "in_dim": 16,
         "num_heads": 2, "num_layers": 2, "out_dim": 16, "eps": 1e-6, "text_len": 512}))
    cfg = dict(TINY)
    model = HyDRATransformer3DModel.from_wan_pretrained(
        tmp_path, torch_dtype=torch.float32, config={**cfg, "text_dim": 64}, retrieval_mode="dynamic", top_k=2,
        generator=gen(1),
    )
    b0 = model.blocks[0]
    assert torch.equal(b0.attn1.to_q.weight, sd["blocks.0.self_attn.q.weight"])
    assert torch.equal(b0.attn2.to_out[0].bias, sd["blocks.0.cross_attn.o.bias"])
    assert torch.equal(b0.norm2.weight, sd["blocks.0.norm3.weight"])  # the norm2/norm3 swap
    assert torch.equal(b0.ffn.net[0].proj.weight, sd["blocks.0.ffn.0.weight"])
    assert torch.equal(model.scale_shift_table, sd["head.modulation"])
    assert torch.equal(model.proj_out.weight, sd["head.head.weight"])
    # HyDRA modules get their designed init; the tokenizer init is reproducible from the generator
    p = model.processors[1]
    assert torch.all(p.cam_encoder_con.weight == 0) and torch.equal(p.projector.weight, torch.eye(64))
    again = HyDRATransformer3DModel.from_wan_pretrained(
        tmp_path, torch_dtype=torch.float32, config={**cfg, "text_dim": 64}, generator=gen(1), top_k=2)
    assert torch.equal(again.processors[1].tokenizer.conv.weight, p.tokenizer.conv.weight)
    # bf16 by default, with diffusers' float32 islands kept
    bf = HyDRATransformer3DModel.from_wan_pretrained(tmp_path, config={**cfg, "text_dim": 64})
    assert bf.blocks[0].attn1.to_q.weight.dtype == torch.bfloat16
    assert bf.blocks[0].scale_shift_table.dtype == torch.float32
    # and reading the original config.json gives the same architecture
    from hmworld.model.checkpoint import read_wan_config

    read = read_wan_config(tmp_path)
    assert read["num_attention_heads"] == 2 and read["attention_head_dim"] == 32 and read["num_layers"] == 2


def test_original_and_diffusers_formats_give_the_same_model(gen, tmp_path):
    g = gen(2)
    torch.manual_seed(2)
    wan = WanTransformer3DModel(**TINY).eval()
    wan.save_pretrained(tmp_path / "diffusers")
    from_diffusers = HyDRATransformer3DModel.from_pretrained(
        tmp_path / "diffusers", torch_dtype=torch.float32, retrieval_mode="full")
    x = torch.randn(1, 16, 4, 8, 8, generator=g)
    t, text = torch.tensor([300.0]), torch.randn(1, 5, 64, generator=g)
    with torch.no_grad():
        ref = wan(x, t, text).sample
        torch.testing.assert_close(from_diffusers(x, t, text).sample, ref, atol=1e-6, rtol=1e-6)


def _tiny_loaded(gen_seed, tmp_path, **kw):
    torch.manual_seed(gen_seed)
    return HyDRATransformer3DModel(**{**TINY, **kw})


def test_released_hydra_checkpoint_maps_onto_the_model(gen, tmp_path):
    g = gen(3)
    model = _tiny_loaded(3, tmp_path, retrieval_mode="dynamic")
    extras = random_state(hydra_extra_shapes(64, 2), g)
    full = {**tiny_original(g), **extras}
    # DiffSynth pipelines save under a wrapper prefix; a .pt file with a "state_dict" entry is common too
    torch.save({"state_dict": {"dit." + k: v for k, v in full.items()}}, tmp_path / "hydra.ckpt")
    load_hydra_checkpoint(model, tmp_path / "hydra.ckpt")
    p = model.processors[1]
    assert torch.equal(p.tokenizer.conv.weight, extras["blocks.1.self_attn.tokenizer.conv.weight"])
    assert torch.equal(p.cam_encoder_tgt.weight, extras["blocks.1.cam_encoder_tgt.weight"])
    assert torch.equal(p.cam_encoder_con.bias, extras["blocks.1.cam_encoder_con.bias"])
    assert torch.equal(p.projector.weight, extras["blocks.1.projector.weight"])
    assert torch.equal(model.blocks[1].attn1.to_k.weight, full["blocks.1.self_attn.k.weight"])


def test_trained_modules_only_checkpoint_keeps_the_base(gen, tmp_path):
    g = gen(4)
    model = _tiny_loaded(4, tmp_path, retrieval_mode="dynamic")
    base_ffn = model.blocks[0].ffn.net[0].proj.weight.clone()
    trained = {k: v for k, v in tiny_original(g).items() if ".self_attn." in k}
    trained.update(random_state(hydra_extra_shapes(64, 2), g))
    save_file(trained, str(tmp_path / "hydra.safetensors"))
    load_hydra_checkpoint(model, tmp_path / "hydra.safetensors")
    assert torch.equal(model.blocks[0].ffn.net[0].proj.weight, base_ffn)
    assert torch.equal(model.blocks[0].attn1.to_v.weight, trained["blocks.0.self_attn.v.weight"])


def test_mismatches_are_clear_errors(gen, tmp_path):
    g = gen(5)
    model = _tiny_loaded(5, tmp_path, retrieval_mode="dynamic")
    extras = random_state(hydra_extra_shapes(64, 2), g)
    missing = {k: v for k, v in extras.items() if k != "blocks.1.projector.bias"}
    with pytest.raises(CheckpointMismatchError, match=r"missing keys: blocks\.1\.attn1\.processor\.projector\.bias"):
        load_hydra_checkpoint(model, missing)
    with pytest.raises(CheckpointMismatchError, match=r"unexpected keys: blocks\.0\.self_attn\.memory_gate"):
        load_hydra_checkpoint(model, {**extras, "blocks.0.self_attn.memory_gate": torch.zeros(3)})
    paper_kernel = random_state(hydra_extra_shapes(64, 2, kernel=(2, 4, 4)), g)
    with pytest.raises(CheckpointMismatchError, match=r"memory_kernel=\(2, 4, 4\)"):
        load_hydra_checkpoint(model, paper_kernel)
    baseline = _tiny_loaded(5, tmp_path, retrieval_mode="full")
    with pytest.raises(CheckpointMismatchError, match="retrieval_mode='dynamic'"):
        load_hydra_checkpoint(baseline, extras)
    with pytest.raises(FileNotFoundError, match="nothing-here.safetensors"):
        load_hydra_checkpoint(model, tmp_path / "nothing-here.safetensors")
    with pytest.raises(FileNotFoundError, match="no transformer weights"):
        HyDRATransformer3DModel.from_wan_pretrained(tmp_path, config=TINY)
    # a Wan checkpoint missing a layer names it
    sd = tiny_original(g)
    del sd["blocks.1.ffn.2.bias"]
    save_file(sd, str(tmp_path / "diffusion_pytorch_model.safetensors"))
    with pytest.raises(CheckpointMismatchError, match=r"blocks\.1\.ffn\.net\.2\.bias"):
        HyDRATransformer3DModel.from_wan_pretrained(tmp_path, config={**TINY, "text_dim": 64})
