"""Speed of HyDRA's retrieval attention at the 480p token grid, measured side by side in one run.

Compares, on the same inputs and the same retrieved memory frames:
  core       hmworld.model.retrieval.dynamic_retrieval_attention (vectorised, chunked batched SDPA)
  per-frame  a plain loop over latent frames: concatenate window + retrieved memory K/V, one SDPA per frame
             (the released code's structure)
  dense      one SDPA over all F*H*W tokens (the Baseline's attention)
and reports time, achieved attention FLOP/s as a fraction of the measured fp32 matmul rate, peak extra memory
(each method runs in its own subprocess; extra = peak RSS minus RSS with the inputs in place; the output
itself is part of it, so the table also shows what lies beyond the output) and the K/V bytes
each method copies in all.

    .venv/bin/python perf/bench_retrieval.py                    # F=40 H=30 W=52, 1 head of 128
    .venv/bin/python perf/bench_retrieval.py heads=2 dense=false
Arguments are key=value (frames, height, width, heads, head_dim, top_k, window, reps, dense, seed, device).
"""
from __future__ import annotations

import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import torch
import torch.nn.functional as F

DEFAULTS = dict(frames=40, height=30, width=52, heads=1, head_dim=128, top_k=10, window=5, reps=2, dense=True,
                seed=0, device="cpu")


def _import_core():
    try:
        from hmworld.model.retrieval import dynamic_retrieval_attention, select_memory_frames
    except ImportError:  # running from a checkout without the editable install
        import importlib.util

        root = Path(__file__).resolve().parents[1]
        spec = importlib.util.spec_from_file_location(
            "hmworld.model", root / "model" / "__init__.py", submodule_search_locations=[str(root / "model")])
        mod = importlib.util.module_from_spec(spec)
        sys.modules["hmworld.model"] = mod
        spec.loader.exec_module(mod)
        from hmworld.model.retrieval import dynamic_retrieval_attention, select_memory_frames
    return dynamic_retrieval_attention, select_memory_frames


def _parse(argv):
    cfg = dict(DEFAULTS)
    for arg in argv:
        key, _, value = arg.partition("=")
        if key not in cfg and key not in ("method", "out"):
            raise SystemExit(f"unknown argument {key!r}; known: {sorted(DEFAULTS)}")
        default = cfg.get(key)
        if isinstance(default, bool):
            cfg[key] = value.lower() in ("1", "true", "yes")
        elif isinstance(default, int):
            cfg[key] = int(value)
        else:
            cfg[key] = value
    return cfg


def _inputs(cfg):
    g = torch.Generator().manual_seed(cfg["seed"])
    nf, h, w, heads, d = cfg["frames"], cfg["height"], cfg["width"], cfg["heads"], cfg["head_dim"]
    mem_grid = (-(-nf // 2), -(-h // 2), -(-w // 2))
    n, m = nf * h * w, mem_grid[0] * mem_grid[1] * mem_grid[2]
    q, k, v = (torch.randn(1, n, heads, d, generator=g) for _ in range(3))
    km, vm = (torch.randn(1, m, heads, d, generator=g) for _ in range(2))
    dev = torch.device(cfg["device"])
    return [t.to(dev) for t in (q, k, v, km, vm)], (nf, h, w), mem_grid


def _sync(device):
    if device.startswith("cuda"):
        torch.cuda.synchronize()


def _per_frame(q, k, v, km, vm, grid, mem_grid, indices, window):
    nf, h, w = grid
    hw, hwm = h * w, mem_grid[1] * mem_grid[2]
    size = min(window, nf)
    outs = []
    for i in range(nf):
        start = min(max(i - window // 2, 0), nf - size)
        sel = [int(j) for j in indices[0, i] if j >= 0]
        kk = torch.cat([k[:, start * hw:(start + size) * hw]] + [km[:, j * hwm:(j + 1) * hwm] for j in sel], 1)
        vv = torch.cat([v[:, start * hw:(start + size) * hw]] + [vm[:, j * hwm:(j + 1) * hwm] for j in sel], 1)
        o = F.scaled_dot_product_attention(q[:, i * hw:(i + 1) * hw].transpose(1, 2), kk.transpose(1, 2),
                                           vv.transpose(1, 2))
        outs.append(o.transpose(1, 2))
    return torch.cat(outs, 1)


def _dense(q, k, v):
    return F.scaled_dot_product_attention(q.transpose(1, 2), k.transpose(1, 2), v.transpose(1, 2)).transpose(1, 2)


def _rss_bytes(field: str) -> int | None:
    """VmRSS / VmHWM of this process from /proc (Linux), in bytes."""
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith(field + ":"):
                return int(line.split()[1]) * 1024
    except OSError:
        return None
    return None


def _reset_peak_rss() -> bool:
    """Reset the peak-RSS high-water mark (Linux >= 4.0), so the peak is measured from here on."""
    try:
        Path("/proc/self/clear_refs").write_text("5")
        return True
    except OSError:
        return False


def run_method(cfg, method, out_path):
    """Child process: time one method and record its peak extra memory."""
    torch.manual_seed(0)
    core, select = _import_core()
    (q, k, v, km, vm), grid, mem_grid = _inputs(cfg)
    # the same retrieval for every method: chosen once from the inputs, as the core does
    with torch.no_grad():
        qr = q.reshape(1, grid[0], -1, q.shape[2] * q.shape[3]).mean(2)
        kr = km.reshape(1, mem_grid[0], -1, q.shape[2] * q.shape[3]).mean(2)
        indices = select(qr @ kr.transpose(1, 2), num_frames=grid[0], top_k=cfg["top_k"],
                         window_size=cfg["window"], mem_stride=2)
    fns = {
        "core": lambda: core(q, k, v, km, vm, grid=grid, mem_grid=mem_grid, top_k=cfg["top_k"],
                             window_size=cfg["window"], q_repr=qr, k_mem_repr=kr),
        "per-frame": lambda: _per_frame(q, k, v, km, vm, grid, mem_grid, indices, cfg["window"]),
        "dense": lambda: _dense(q, k, v),
    }
    fn = fns[method]
    # The machine may be shared: each method is compared with the matmul rate measured right before it.
    rate = matmul_rate(cfg["device"])
    use_hwm = _reset_peak_rss() and _rss_bytes("VmRSS") is not None
    base = _rss_bytes("VmRSS") if use_hwm else resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
    if cfg["device"].startswith("cuda"):
        torch.cuda.reset_peak_memory_stats()
        base = torch.cuda.memory_allocated()
    times = []
    with torch.no_grad():
        reps = 1 if method == "dense" else cfg["reps"]
        for _ in range(reps):
            _sync(cfg["device"])
            t0 = time.perf_counter()
            out = fn()
            _sync(cfg["device"])
            times.append(time.perf_counter() - t0)
            if _ + 1 < reps:
                del out
    if cfg["device"].startswith("cuda"):
        peak = torch.cuda.max_memory_allocated() - base
    elif use_hwm:
        peak = _rss_bytes("VmHWM") - base
    else:
        peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024 - base
    out_bytes = out.numel() * out.element_size()
    torch.save(out.cpu(), out_path)
    print(json.dumps({"time": min(times), "times": times, "peak_extra": peak, "out_bytes": out_bytes,
                      "matmul_rate": rate}))


def matmul_rate(device: str, n: int = 2048, reps: int = 5) -> float:
    a = torch.randn(n, n, device=device)
    b = torch.randn(n, n, device=device)
    a @ b
    best = float("inf")
    for _ in range(reps):
        _sync(device)
        t0 = time.perf_counter()
        a @ b
        _sync(device)
        best = min(best, time.perf_counter() - t0)
    return 2 * n**3 / best


def main(argv):
    cfg = _parse(argv)
    if "method" in cfg:
        return run_method(cfg, cfg.pop("method"), cfg.pop("out"))
    nf, h, w, heads, d = cfg["frames"], cfg["height"], cfg["width"], cfg["heads"], cfg["head_dim"]
    hw, hwm = h * w, (-(-h // 2)) * (-(-w // 2))
    n = nf * hw
    keys_sparse = min(cfg["window"], nf) * hw + cfg["top_k"] * hwm
    flops = {"core": 4 * n * keys_sparse * d * heads, "per-frame": 4 * n * keys_sparse * d * heads,
             "dense": 4 * n * n * d * heads}
    kv_copy = 2 * n * heads * d * 4  # one fp32 copy of K and V
    copied = {"core": nf * keys_sparse * heads * d * 4 * 2, "per-frame": nf * keys_sparse * heads * d * 4 * 2,
              "dense": 0}
    print(f"grid F={nf} H={h} W={w}, {heads} head(s) of {d}, top_k={cfg['top_k']}, window={cfg['window']}, "
          f"threads={torch.get_num_threads()}, device={cfg['device']}")
    rate = matmul_rate(cfg["device"])
    print(f"fp32 matmul (2048^3): {rate / 1e9:.1f} GFLOP/s here; each method's row shows the rate measured in its "
          f"own process just before it ('matmul' column, GFLOP/s)")
    methods = ["core", "per-frame"] + (["dense"] if cfg["dense"] else [])
    results, outs = {}, {}
    with tempfile.TemporaryDirectory() as tmp:
        for m in methods:
            path = os.path.join(tmp, f"{m}.pt")
            args = [f"{k}={v}" for k, v in cfg.items()] + [f"method={m}", f"out={path}"]
            # A fixed mmap threshold makes glibc return freed large blocks to the OS, so peak RSS measures the
            # live tensors and not allocator caching.
            env = dict(os.environ, MALLOC_MMAP_THRESHOLD_="131072", MALLOC_TRIM_THRESHOLD_="131072")
            proc = subprocess.run([sys.executable, __file__, *args], capture_output=True, text=True, check=False,
                                  env=env)
            if proc.returncode:
                raise SystemExit(f"{m} failed:\n{proc.stderr[-3000:]}")
            results[m] = json.loads(proc.stdout.strip().splitlines()[-1])
            outs[m] = torch.load(path)
    print(f"\n{'method':<10} {'time s':>8} {'GFLOP/s':>8} {'matmul':>8} {'of matmul':>9} {'peak extra MB':>14} "
          f"{'beyond output':>14} {'/ one K+V copy':>14} {'K/V copied MB':>14}")
    for m in methods:
        r = results[m]
        gf = flops[m] / r["time"]
        print(f"{m:<10} {r['time']:>8.3f} {gf / 1e9:>8.1f} {r['matmul_rate'] / 1e9:>8.1f} {gf / r['matmul_rate']:>9.2f} "
              f"{r['peak_extra'] / 2**20:>14.1f} {(r['peak_extra'] - r['out_bytes']) / 2**20:>14.1f} "
              f"{(r['peak_extra'] - r['out_bytes']) / kv_copy:>14.2f} {copied[m] / 2**20:>14.1f}")
    print()
    diff = (outs["core"] - outs["per-frame"]).abs().max().item()
    print(f"max |core - per-frame| = {diff:.2e}")
    print(f"core speed-up vs per-frame: {results['per-frame']['time'] / results['core']['time']:.2f}x")
    if "dense" in results:
        print(f"core speed-up vs dense: {results['dense']['time'] / results['core']['time']:.2f}x "
              f"(FLOP ratio {flops['dense'] / flops['core']:.2f}x); "
              f"per-frame vs dense: {results['dense']['time'] / results['per-frame']['time']:.2f}x")
    # On a shared machine the methods may see different CPU shares; the per-process matmul rate makes their
    # efficiencies comparable, and efficiency ratio x FLOP ratio is the speed-up at equal CPU share.
    eff = {m: flops[m] / results[m]["time"] / results[m]["matmul_rate"] for m in methods}
    print(f"at equal CPU share (efficiency x FLOP ratio): core vs per-frame {eff['core'] / eff['per-frame']:.2f}x"
          + (f", core vs dense {eff['core'] / eff['dense'] * flops['dense'] / flops['core']:.2f}x, per-frame vs "
             f"dense {eff['per-frame'] / eff['dense'] * flops['dense'] / flops['per-frame']:.2f}x"
             if "dense" in results else ""))
    print(f"(one K+V copy = {kv_copy / 2**20:.1f} MB; output = {results['core']['out_bytes'] / 2**20:.1f} MB "
          f"and counts in peak extra)")


if __name__ == "__main__":
    main(sys.argv[1:])
