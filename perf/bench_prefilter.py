"""Speed of the geometric exit/entry pre-filter, today's against the first wave's, side by side in one run.

    .venv/bin/python perf/bench_prefilter.py            # 832x480, 77 + 77 frames, ~20,000 candidates per case
    .venv/bin/python perf/bench_prefilter.py --quick    # fewer candidates

The first wave's implementation (events.py at commit bd63f60: a cylinder per subject, bare exit/entry
definition) is loaded from git history, so both run on this machine in the same process, on the same
candidate clips: tracking shots (today's default camera) and free camera trajectories (the first wave's
default). Prints candidate clips checked per second with and without static occluders (one thread each), the
ratio of the two implementations, and the share of candidates each one passes. Aim from issue 11: >= 50,000 clips/s with occluders. Run it on an idle machine: under load the
thread scheduler, not the code, decides the figures.
"""
from __future__ import annotations

import argparse
import importlib.util
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
from hydra import compose, initialize_config_module

from hmworld.catalog import load_catalog
from hmworld.compositor import CompositionContext, Rejection, compose as compose_clip
from hmworld.events import PrefilterBatch, prefilter

LEGACY_COMMIT = "bd63f60"  # the last commit before issue 11
ROOT = Path(__file__).resolve().parents[1]


def legacy_events():
    """hmworld/events.py as it was at LEGACY_COMMIT, imported under another name."""
    source = subprocess.run(["git", "-C", str(ROOT), "show", f"{LEGACY_COMMIT}:hmworld/events.py"],
                            capture_output=True, text=True, check=True).stdout
    path = Path(tempfile.mkdtemp()) / "legacy_events.py"
    path.write_text(source)
    spec = importlib.util.spec_from_file_location("legacy_events", path)
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up while the class is built
    spec.loader.exec_module(module)
    return module


def config(*overrides):
    with initialize_config_module(config_module="hmworld.render_configs", version_base="1.3"):
        return compose(config_name="render", overrides=list(overrides))


def tiled(batch, tile: int):
    return type(batch)(*(np.concatenate([getattr(batch, f)] * tile) for f in batch.__dataclass_fields__))


def rate(fn, repeats: int = 3) -> float:
    fn()  # warm-up
    best = float("inf")
    for _ in range(repeats):
        t = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - t)
    return best


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--quick", action="store_true", help="fewer candidates")
    args = ap.parse_args()
    n_specs, tile = (100, 20) if args.quick else (250, 80)
    catalog, legacy = load_catalog(), legacy_events()
    print(f"cores: {os.cpu_count()}   832x480, 77 + 77 frames   legacy: events.py at {LEGACY_COMMIT}")
    cases = {"tracking shots (default)": [], "free camera trajectories": ["camera_trajectories=null",
                                                                       "events.hidden_gap=[1,1000]"]}
    for name, overrides in cases.items():
        ctx = CompositionContext.from_config(catalog, config("out=x", "seed=2", *overrides))
        specs = [s for s in (compose_clip(ctx, i, 0) for i in range(n_specs)) if not isinstance(s, Rejection)]
        new = tiled(PrefilterBatch.from_specs(specs, catalog.scenes, catalog.subjects), tile)
        old = tiled(legacy.PrefilterBatch.from_specs(specs, catalog.scenes, catalog.subjects), tile)
        n = len(new.c2w)
        print(f"\n{name}: {n:,} candidates ({len(specs)} distinct)")
        for occ in (True, False):
            label = "with occluders   " if occ else "without occluders"
            t_new = rate(lambda: prefilter(new, 77, 832, 480, ctx.rules, occluders=occ))
            t_old = rate(lambda: legacy.prefilter(old, 77, 832, 480, ctx.rules.min_visible_pixels, occluders=occ))
            pass_new = prefilter(new, 77, 832, 480, ctx.rules, occluders=occ)[0].mean()
            pass_old = legacy.prefilter(old, 77, 832, 480, ctx.rules.min_visible_pixels, occluders=occ)[0].mean()
            print(f"  {label}: today {n / t_new:>9,.0f} clips/s | first wave {n / t_old:>9,.0f} clips/s | "
                  f"{t_old / t_new:.2f}x | passes {pass_new:.0%} (rules) vs {pass_old:.0%} (bare definition)"
                  + (f" | aim >= 50,000: {n / t_new / 50000:.2f}x" if occ else ""))
    sys.stdout.flush()


if __name__ == "__main__":
    main()
