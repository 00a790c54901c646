"""Speed of HM-World generation on this machine, measured side by side in one run.

    .venv/bin/python perf/bench_render.py            # full: 832x480 and 416x240, 77 + 77 frames
    .venv/bin/python perf/bench_render.py --quick    # fewer frames, for a smoke run

Prints: end-to-end frames per second of `hmworld render` (render + encode + masks + annotations + write)
at two sizes and its parts (render only, encode only). Aims: >= 25 fps at 832x480, >= 60 fps at 416x240.
The pre-filter has its own benchmark, beside the first wave's implementation: perf/bench_prefilter.py.
"""
from __future__ import annotations

import argparse
import os
import tempfile
import time

from hydra import compose, initialize_config_module

from hmworld.catalog import load_catalog
from hmworld.compositor import CompositionContext, Rejection, compose as compose_clip
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


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--quick", action="store_true", help="21 + 21 frames, fewer clips")
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


if __name__ == "__main__":
    main()
