"""Speed of HM-World generation on this machine, measured side by side in one run.

    .venv/bin/python perf/bench_render.py            # full: 832x480 and 416x240, 77 + 77 frames
    .venv/bin/python perf/bench_render.py --quick    # fewer frames, for a smoke run

Prints: end-to-end frames per second of `hmworld render` (render + encode + masks + annotations + write)
at two sizes, its parts (render only, encode only) and the geometric pre-filter's candidate clips checked
per second, with and without static occluders. Aims from the issue: >= 25 fps at 832x480, >= 60 fps at
416x240, >= 50,000 pre-filter candidates per second.
"""
from __future__ import annotations

import argparse
import os
import tempfile
import time

import numpy as np
from hydra import compose, initialize_config_module

from hmworld.catalog import load_catalog
from hmworld.compositor import CompositionContext, Rejection, compose as compose_clip
from hmworld.events import PrefilterBatch, min_visible_pixels, prefilter
from hmworld.render.embedded import EmbeddedRenderer
from hmworld.render_job import run_render
from hmworld.video import VideoWriter


def config(*overrides):
    with initialize_config_module(config_module="hmworld.render_configs", version_base="1.3"):
        return compose(config_name="render", overrides=list(overrides))


def end_to_end(width: int, height: int, frames: int, clips: int) -> dict:
    with tempfile.TemporaryDirectory() as tmp:
        cfg = config(f"out={tmp}/split", f"num_clips={clips}", "seed=1", f"video.width={width}",
                     f"video.height={height}", f"video.context_frames={frames}", f"video.target_frames={frames}",
                     "progress=false")
        report = run_render(cfg)
    return {"fps": report.fps, "frames": report.frames, "seconds": report.render_seconds,
            "wall": report.wall_seconds}


def parts(width: int, height: int, frames: int) -> dict:
    catalog = load_catalog()
    cfg = config("out=x", "seed=1", f"video.width={width}", f"video.height={height}",
                 f"video.context_frames={frames}", f"video.target_frames={frames}")
    ctx = CompositionContext.from_config(catalog, cfg)
    spec = next(s for s in (compose_clip(ctx, i, 0) for i in range(20)) if not isinstance(s, Rejection))
    with EmbeddedRenderer(catalog) as renderer:
        list(renderer.render(spec))  # warm-up: shader compile, texture upload
        t = time.perf_counter()
        rendered = [f.rgb for f in renderer.render(spec)]
        render_s = time.perf_counter() - t
    with tempfile.TemporaryDirectory() as tmp:
        t = time.perf_counter()
        with VideoWriter(os.path.join(tmp, "v.mp4"), width, height, 15) as w:
            for f in rendered:
                w.write(f)
        encode_s = time.perf_counter() - t
    return {"render_fps": len(rendered) / render_s, "encode_fps": len(rendered) / encode_s}


def prefilter_rate(n_specs: int, tile: int) -> dict:
    catalog = load_catalog()
    cfg = config("out=x", "seed=2")  # paper defaults: 832x480, 77 + 77 frames
    ctx = CompositionContext.from_config(catalog, cfg)
    specs = [s for s in (compose_clip(ctx, i, 0) for i in range(n_specs)) if not isinstance(s, Rejection)]
    one = PrefilterBatch.from_specs(specs, catalog.scenes, catalog.subjects)
    batch = PrefilterBatch(*(np.concatenate([getattr(one, f)] * tile) for f in one.__dataclass_fields__))
    min_px = min_visible_pixels(832, 480, 0.001, 4)
    out = {"candidates": len(batch.c2w)}
    for occluders in (True, False):
        prefilter(batch, 77, 832, 480, min_px, occluders=occluders)  # warm-up
        t = time.perf_counter()
        ok, _ = prefilter(batch, 77, 832, 480, min_px, occluders=occluders)
        out[f"per_s{'' if occluders else '_no_occluders'}"] = len(ok) / (time.perf_counter() - t)
        out[f"pass_rate{'' if occluders else '_no_occluders'}"] = float(ok.mean())
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--quick", action="store_true", help="21 + 21 frames, fewer candidates")
    args = ap.parse_args()
    frames, clips = (21, 2) if args.quick else (77, 3)
    print(f"cores: {os.cpu_count()}   frames per clip: {2 * frames}   clips per size: {clips}")
    for (w, h), aim in (((832, 480), 25), ((416, 240), 60)):
        e2e = end_to_end(w, h, frames, clips)
        p = parts(w, h, frames)
        print(f"{w}x{h}: end-to-end {e2e['fps']:.1f} fps (aim >= {aim}: {e2e['fps'] / aim:.2f}x of aim) | "
              f"render only {p['render_fps']:.1f} fps | encode only {p['encode_fps']:.1f} fps | "
              f"render + encode back to back would give {1 / (1 / p['render_fps'] + 1 / p['encode_fps']):.1f} fps | "
              f"{e2e['frames']} frames, wall {e2e['wall']:.1f} s")
    pf = prefilter_rate(200 if args.quick else 500, 10 if args.quick else 40)
    print(f"pre-filter ({pf['candidates']} candidates of 154 frames, 832x480): "
          f"{pf['per_s']:,.0f} clips/s with occluders, {pf['per_s_no_occluders']:,.0f} clips/s without "
          f"({pf['per_s_no_occluders'] / pf['per_s']:.2f}x); aim >= 50,000: {pf['per_s'] / 50000:.2f}x of aim; "
          f"pass rate {pf['pass_rate']:.0%} / {pf['pass_rate_no_occluders']:.0%}")


if __name__ == "__main__":
    main()
