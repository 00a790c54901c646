"""Training speed and memory: the tiny model's steps/s on CPU, and one forward+backward of the full 1.3B HyDRA
(Wan2.1-T2V-1.3B shapes, random float32 weights, the released recipe's trainable groups) on a short, small clip
on CPU, with and without gradient checkpointing, from which the 480p x 77+77 memory is extrapolated.

float32, not bf16: on a CPU without AVX512-BF16/AMX a bf16 matmul runs ~80x slower than float32 (measured here:
0.5 vs 41 GFLOPS), so a bf16 forward+backward of 1.9B parameters would take hours.

    .venv/bin/python perf/bench_training.py tiny            # steps/s of `model=tiny` on 64x64, 21+21 frames
    .venv/bin/python perf/bench_training.py full            # 1.3B fwd+bwd, both checkpointing settings (subprocesses)

Memory figures: peak RSS of a fresh process (allocator-independent high-water mark) minus its RSS before the
forward, and the bytes autograd saved for backward (activations), counted with saved-tensor hooks.
"""
from __future__ import annotations

import json
import os
import resource
import subprocess
import sys
import time

import torch

GiB = 1024 ** 3


def rss_bytes() -> int:
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")


def tiny(steps: int = 30) -> dict:
    sys.path.insert(0, os.path.join(os.path.dirname(__file__), ".."))   # the repository root, for tests.*
    from tests.model.testlib import tiny_model_cfg

    from hmworld.model.training import HyDRAFlowMatchingModule

    cfg = tiny_model_cfg()
    m = HyDRAFlowMatchingModule(cfg, {"trainable": "all", "caption_dropout": 0.1}, {"lr": 1e-3},
                                {"num_train_timesteps": 1000, "shift": 5.0, "weighting": "gaussian"}, seed=0)
    opt = torch.optim.AdamW(m.parameters(), lr=1e-3)
    g = torch.Generator().manual_seed(0)
    batch = {"latents": torch.randn(1, 16, 12, 8, 8, generator=g), "camera": torch.randn(1, 12, 12, generator=g),
             "text": torch.randn(1, 32, 64, generator=g), "num_context": 6}

    def step():
        loss, _, _ = m.flow_loss(batch, g)
        opt.zero_grad()
        loss.backward()
        opt.step()

    for _ in range(3):
        step()
    t0 = time.perf_counter()
    for _ in range(steps):
        step()
    dt = (time.perf_counter() - t0) / steps
    return {"tiny_step_s": dt, "tiny_steps_per_s": 1 / dt, "threads": torch.get_num_threads()}


def full_once(checkpointing: bool, frames: int, height: int, width: int, layers: int = 30) -> dict:
    """One fwd+bwd of the 1.3B HyDRA on latents [1, 16, 2*frames, height/8, width/8] (float32 weights);
    ``layers`` < 30 keeps the 1.3B block shapes with fewer blocks (for the per-token activation fit)."""
    from diffusers.models.transformers.transformer_wan import WanRotaryPosEmbed

    from hmworld.model import WAN21_T2V_1_3B_CONFIG, HyDRATransformer3DModel
    from hmworld.model.training import set_trainable

    with torch.device("meta"):
        model = HyDRATransformer3DModel(**{**WAN21_T2V_1_3B_CONFIG, "num_layers": layers}, retrieval_mode="dynamic")
    model.to_empty(device="cpu")
    g = torch.Generator().manual_seed(0)
    with torch.no_grad():
        for n, p in model.named_parameters():
            if p.ndim == 1:
                p.fill_(1.0 if "norm" in n else 0.0)
            else:
                p.copy_(torch.randn(p.shape, generator=g) * 0.02)
        for proc in model.processors:
            proc.reset_parameters(g)
    cfg = model.config
    model.rope = WanRotaryPosEmbed(cfg.attention_head_dim, tuple(cfg.patch_size), cfg.rope_max_seq_len)
    trainable = set_trainable(model, "hydra")
    if checkpointing:
        model.enable_gradient_checkpointing()
    model.train()
    params = sum(p.numel() for p in model.parameters())
    n_train = sum(p.numel() for p in model.parameters() if p.requires_grad)
    h, w = height // 8, width // 8
    x = torch.randn(1, 16, 2 * frames, h, w, generator=g)
    text = torch.randn(1, 512, 4096, generator=g)
    cam = torch.randn(1, 2 * frames, 12, generator=g)
    t = torch.tensor([500.0])
    saved = [0]
    # Linear layers save their weight for backward: that is the parameter itself, not activation memory.
    param_storage = {p.untyped_storage().data_ptr() for p in model.parameters()}
    seen: set = set()

    def pack(tensor):
        ptr = tensor.untyped_storage().data_ptr()
        if ptr not in param_storage and ptr not in seen:  # count each storage once (views share it)
            seen.add(ptr)
            saved[0] += tensor.untyped_storage().nbytes()
        return tensor

    base = rss_bytes()
    t0 = time.perf_counter()
    with torch.autograd.graph.saved_tensors_hooks(pack, lambda tensor: tensor):
        out = model(x, t, text, camera=cam, num_context_frames=frames).sample
        loss = out[:, :, frames:].float().square().mean()
    t1 = time.perf_counter()
    loss.backward()
    t2 = time.perf_counter()
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
    tokens = 2 * frames * (h // 2) * (w // 2)
    return {"checkpointing": checkpointing, "layers": layers, "params": params, "trainable": n_train, "tokens": tokens,
            "latent_grid": [2 * frames, h, w], "forward_s": t1 - t0, "backward_s": t2 - t1,
            "rss_before_gib": base / GiB, "peak_rss_gib": peak / GiB, "fwd_bwd_extra_gib": (peak - base) / GiB,
            "saved_activations_gib": saved[0] / GiB, "trainable_names": len(trainable or [])}


def estimate(r: dict, tokens: int = 40 * 30 * 52, per_block_gib: float = 0.0) -> dict:
    """Extrapolate to 480p x 77+77 (40 latent frames of 30 x 52 patches = 62,400 tokens) on one GPU with bf16
    autocast and AdamW: frozen weights 2 B/param (bf16), trainable ones 4 B (float32 master) + grads 4 B + Adam 8 B;
    activations scale linearly with tokens (the attention is block-sparse: no tokens^2 term) and are halved from
    the float32 measurement for bf16 autocast (an approximation: the float32 islands, e.g. norms, stay float32).
    With checkpointing the backward also recomputes one block at a time: ``per_block_gib`` (measured without
    checkpointing, divided by the block count) is added."""
    frozen = r["params"] - r["trainable"]
    static = frozen * 2 + r["trainable"] * (4 + 4 + 8)
    act_measured = r["saved_activations_gib"] * GiB + per_block_gib * GiB
    if r["checkpointing"]:
        # non-reentrant checkpointing keeps each block's input outside the saved-tensor hooks: 30 x tokens x 1536
        act_measured += 30 * r["tokens"] * 1536 * 4
    act = act_measured / r["tokens"] * tokens / 2
    return {"static_gib": static / GiB, "activations_gib": act / GiB, "total_gib": (static + act) / GiB}


def main() -> None:
    what = sys.argv[1] if len(sys.argv) > 1 else "tiny"
    if what == "tiny":
        print(json.dumps(tiny(), indent=1))
    elif what == "full-once":
        ckpt, frames, height, width = sys.argv[2] == "1", int(sys.argv[3]), int(sys.argv[4]), int(sys.argv[5])
        layers = int(sys.argv[6]) if len(sys.argv) > 6 else 30
        print(json.dumps(full_once(ckpt, frames, height, width, layers)))
    elif what == "fit":
        # Activation bytes per block = a + b * tokens, fitted on 2 blocks of the 1.3B shapes at two latent sizes
        # (the text cross-attention's K/V are the constant part), then 30 blocks at 62,400 tokens, bf16 (/2).
        pts = {}
        for ckpt in (False, True):
            for frames, height, width in ((3, 96, 160), (3, 192, 320)):
                proc = subprocess.run([sys.executable, __file__, "full-once", "1" if ckpt else "0", str(frames),
                                       str(height), str(width), "2"], capture_output=True, text=True)
                if proc.returncode != 0:
                    print(proc.stderr[-3000:])
                    raise SystemExit(proc.returncode)
                r = json.loads(proc.stdout.strip().splitlines()[-1])
                extra = 2 * r["tokens"] * 1536 * 4 if ckpt else 0  # block inputs kept by checkpointing
                pts[(ckpt, r["tokens"])] = (r["saved_activations_gib"] * GiB + extra) / 2
                print(json.dumps(r), flush=True)
        tokens = 40 * 30 * 52
        for ckpt in (False, True):
            (t1, y1), (t2, y2) = sorted((t, y) for (c, t), y in pts.items() if c == ckpt)
            b = (y2 - y1) / (t2 - t1)
            a = y1 - b * t1
            per_block = a + b * tokens
            if ckpt:  # stored: each block's input; recomputed during backward: one block's activations
                no = sorted((t, y) for (c, t), y in pts.items() if not c)
                bb = (no[1][1] - no[0][1]) / (no[1][0] - no[0][0])
                total = 30 * per_block + (no[0][1] - bb * no[0][0]) + bb * tokens
            else:
                total = 30 * per_block
            print(f"fit checkpointing={ckpt}: per block {a / 2**20:.1f} MiB + {b / 2**10:.1f} KiB/token (float32); "
                  f"480p 77+77 activations in bf16 ~ {total / 2 / GiB:.1f} GiB")
    elif what == "full":
        frames, height, width = 3, 96, 160  # 9+9 video frames -> 3+3 latents of 12x20 (short clip, reduced size)
        results = []
        for ckpt in (False, True):
            proc = subprocess.run([sys.executable, __file__, "full-once", "1" if ckpt else "0", str(frames), str(height),
                                   str(width)], capture_output=True, text=True)
            if proc.returncode != 0:
                print(proc.stderr[-3000:])
                raise SystemExit(proc.returncode)
            r = json.loads(proc.stdout.strip().splitlines()[-1])
            per_block = results[0]["saved_activations_gib"] / 30 if ckpt else 0.0
            r["estimate_480p_77x77"] = estimate(r, per_block_gib=per_block)
            results.append(r)
            print(json.dumps(r, indent=1), flush=True)
        off, on = results
        print(f"1.3B fwd+bwd at {off['latent_grid']} latents ({off['tokens']} tokens), float32 on CPU: "
              f"peak +{off['fwd_bwd_extra_gib']:.2f} GiB without / +{on['fwd_bwd_extra_gib']:.2f} GiB with gradient "
              f"checkpointing; activations {off['saved_activations_gib']:.3f} / {on['saved_activations_gib']:.3f} GiB; "
              f"fwd+bwd {off['forward_s'] + off['backward_s']:.1f} s / {on['forward_s'] + on['backward_s']:.1f} s")
        for r in results:
            e = r["estimate_480p_77x77"]
            print(f"estimate 480p 77+77 (62,400 tokens), checkpointing={r['checkpointing']}: weights+grads+AdamW "
                  f"{e['static_gib']:.1f} GiB + activations {e['activations_gib']:.1f} GiB = {e['total_gib']:.1f} GiB")


if __name__ == "__main__":
    main()
