"""Speed of the metrics suite on this machine (CPU by default), side by side in one run.

    .venv/bin/python perf/bench_metrics.py [weights_dir=DIR] [device=cpu] [smoke=false]

Prints, at 416x240 and 832x480:
  * frames/s of each metric function (psnr, ssim, lpips, subject/background consistency, the DSC detector),
  * frames/s of each model's bare forward pass on already-preprocessed input (the reference figures),
  * one whole per-clip scorer run (score_clip_files: decode both videos once, all metrics), split into
    decode, pixel metrics, model forward time and the rest, with the share of the scorer's time beyond the
    models' own forward time.
Weights: the real files when they resolve (weights_dir / caches); otherwise random-initialised models of the
same architectures at full size (speed does not depend on the weight values; the detector then finds
nothing, so DSC embeds no crops). smoke=true runs tiny sizes for a quick check of the script itself.
"""
from __future__ import annotations

import json
import os
import sys
import tempfile
import time
from contextlib import contextmanager
from pathlib import Path

import numpy as np

os.environ.setdefault("YOLO_OFFLINE", "1")
os.environ.setdefault("YOLO_AUTOINSTALL", "0")
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("HMWORLD_OFFLINE", "1")
if "YOLO_CONFIG_DIR" not in os.environ:
    os.environ["YOLO_CONFIG_DIR"] = tempfile.mkdtemp(prefix="bench-yolo-cfg-")


def parse_args(argv):
    args = {"weights_dir": None, "device": "cpu", "smoke": "false", "threads": "0"}
    for a in argv:
        key, sep, value = a.partition("=")
        if not sep or key not in args:
            raise SystemExit(f"usage: bench_metrics.py [weights_dir=DIR] [device=cpu|cuda] [smoke=true|false]; got {a!r}")
        args[key] = value
    args["smoke"] = args["smoke"].lower() in ("1", "true", "yes")
    return args


def synthetic_video(n, h, w, seed=0):
    """Smooth, textured frames with a drifting pattern (content does not change model speed)."""
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
    out = np.empty((n, h, w, 3), np.uint8)
    for i in range(n):
        base = np.stack([np.sin((xx + 3 * i) / 23 + k) * np.cos(yy / 17 - k) for k in range(3)], -1) * 90 + 128
        out[i] = np.clip(base + rng.normal(0, 8, base.shape), 0, 255)
    return out


def write_mp4(path, video, fps=15):
    import av

    with av.open(str(path), "w") as c:
        s = c.add_stream("libx264", rate=fps)
        s.width, s.height, s.pix_fmt = video.shape[2], video.shape[1], "yuv420p"
        for fr in video:
            for p in s.encode(av.VideoFrame.from_ndarray(fr, format="rgb24")):
                c.mux(p)
        for p in s.encode():
            c.mux(p)


def clip_annotations(c, t, h, w):
    """events.json / subjects.json for one subject that leaves in the context half and re-enters at t // 2."""
    entry = c + t // 2
    frames = []
    for f in range(c + t):
        vis = f < c // 2 or f >= entry
        box = [w * 0.4, h * 0.3, w * 0.55, h * 0.8]
        frames.append({"position": [0, 0, 0], "heading": 0.0, "box": box, "visible_box": box if vis else None,
                       "visible_pixels": 1000 if vis else 0})
    subjects = {"version": 1, "subjects": [{"instance_id": 1, "name": "person", "kind": "human", "coco_class": 0,
                                            "frames": frames}]}
    events = {"version": 1, "min_visible_pixels": 15, "context_frames": c, "target_frames": t,
              "subjects": [{"instance_id": 1, "visible_intervals": [[0, c // 2], [entry, c + t]],
                            "events": [{"exit_frame": c // 2, "entry_frame": entry}]}]}
    return events, subjects


def build_models(weights_dir, device, smoke):
    """Real weights where they resolve, else full-size random models of the same classes."""
    import lpips as lpips_pkg
    import open_clip
    import timm
    from ultralytics import YOLO

    from hmworld.metrics import ClipCropEmbedder, MetricModels, WeightsNotFoundError, YoloDetector
    from hmworld.metrics import models as M

    origin = {}

    def attempt(name, real, fallback):
        try:
            origin[name] = "real weights"
            return real()
        except WeightsNotFoundError:
            origin[name] = "random init (weights not found)"
            return fallback()

    dino_arch = dict(embed_dim=48, depth=1, num_heads=2) if smoke else {}
    clip_arch = dict(embed_dim=32, vision_cfg=dict(image_size=224, layers=1, width=64, patch_size=32),
                     text_cfg=dict(context_length=77, vocab_size=49408, width=32, heads=2, layers=1)) if smoke else {}
    yolo_name = "yolo11n" if smoke else "yolo11x"

    def rand_lpips():
        import warnings

        with warnings.catch_warnings():
            warnings.simplefilter("ignore", UserWarning)
            return lpips_pkg.LPIPS(net="alex", version="0.1", pnet_rand=True, verbose=False).eval().to(device)

    lp = attempt("lpips", lambda: M.load_lpips(weights_dir, device), rand_lpips)
    dino = attempt("dino", lambda: M.load_dino(weights_dir, device, arch=dino_arch or None),
                   lambda: M._patch_crop_module()(timm.create_model(
                       M.DINO_NAME, pretrained=False, num_classes=0, dynamic_img_size=True, **dino_arch)).eval().to(device))
    clip = attempt("clip", lambda: M.load_clip(weights_dir, device, arch=clip_arch or None),
                   lambda: open_clip.create_model(M.CLIP_NAME, pretrained=None, **clip_arch).eval().to(device))
    yolo = attempt("yolo", lambda: M.load_yolo(weights_dir, f"{yolo_name}.pt"), lambda: YOLO(f"{yolo_name}.yaml"))
    models = MetricModels(device=device, lpips=lp, dino=dino, clip=clip,
                          detector=YoloDetector(yolo, device=device), embedder=ClipCropEmbedder(clip, device=device))
    return models, yolo, origin, yolo_name


class ForwardClock:
    """Sums the wall time spent inside given modules' forward passes (hooks; no change to the code timed)."""

    def __init__(self, modules, sync):
        self.seconds, self.calls, self._start, self._sync = 0.0, 0, {}, sync
        self.handles = []
        for m in modules:
            self.handles.append(m.register_forward_pre_hook(self._pre))
            self.handles.append(m.register_forward_hook(self._post))

    def _pre(self, module, args):
        self._sync()
        self._start[id(module)] = time.perf_counter()

    def _post(self, module, args, output):
        self._sync()
        self.seconds += time.perf_counter() - self._start.pop(id(module))
        self.calls += 1

    def close(self):
        for h in self.handles:
            h.remove()


@contextmanager
def timer(out, key):
    start = time.perf_counter()
    yield
    out[key] = time.perf_counter() - start


def main(argv=None):
    args = parse_args(sys.argv[1:] if argv is None else argv)
    import torch

    if int(args["threads"]):
        torch.set_num_threads(int(args["threads"]))
    from hmworld.metrics import (DSCConfig, background_consistency, lpips, psnr, score_clip_files, ssim,
                                 subject_consistency)
    from hmworld.metrics.consistency import clip_preprocess, dino_preprocess

    device = args["device"]
    sync = torch.cuda.synchronize if device.startswith("cuda") else (lambda: None)
    smoke = args["smoke"]
    t_load = time.perf_counter()
    models, yolo, origin, yolo_name = build_models(args["weights_dir"], device, smoke)
    t_load = time.perf_counter() - t_load
    print(f"device {device}, torch threads {torch.get_num_threads()}, models built in {t_load:.1f} s")
    print("models: " + ", ".join(f"{k}: {v}" for k, v in origin.items()) + f"; detector {yolo_name}")
    sizes = [(64, 112), (96, 160)] if smoke else [(240, 416), (480, 832)]
    n = dict(psnr=16, ssim=8, lpips=4, subject_consistency=4, background_consistency=8, detector=3)
    if smoke:
        n = {k: 2 for k in n}
    results = {"device": device, "models": origin, "detector": yolo_name, "sizes": {}}

    def fps(fn, frames):
        fn(2)  # warm-up (first-call allocations, thread pools)
        sync()
        start = time.perf_counter()
        fn(frames)
        sync()
        return frames / (time.perf_counter() - start)

    for h, w in sizes:
        video = synthetic_video(max(n.values()) + 1, h, w)
        other = synthetic_video(max(n.values()) + 1, h, w, seed=1)
        row = {}
        row["psnr"] = fps(lambda k: psnr(video[:k], other[:k]), n["psnr"])
        row["ssim"] = fps(lambda k: ssim(video[:k], other[:k]), n["ssim"])
        row["lpips"] = fps(lambda k: lpips(video[:k], other[:k], model=models.lpips), n["lpips"])
        row["subject_consistency"] = fps(lambda k: subject_consistency(video[:k], model=models.dino),
                                         n["subject_consistency"])
        row["background_consistency"] = fps(lambda k: background_consistency(video[:k], model=models.clip),
                                            n["background_consistency"])
        row["detector"] = fps(lambda k: models.detector.detect(video[:k], [0]), n["detector"])
        # Bare model forwards on preprocessed input: the reference the scorer is compared with.
        with torch.inference_mode():
            x = torch.from_numpy(video[: n["lpips"]]).permute(0, 3, 1, 2).contiguous().float().div(127.5).sub(1).to(device)
            y = torch.from_numpy(other[: n["lpips"]]).permute(0, 3, 1, 2).contiguous().float().div(127.5).sub(1).to(device)
            row["model_lpips"] = fps(lambda k: models.lpips(x[:k], y[:k]), n["lpips"])
            d = dino_preprocess(video[: n["subject_consistency"]], device)
            row["model_dino"] = fps(lambda k: models.dino(d[:k]), n["subject_consistency"])
            cpx = clip_preprocess(video[: n["background_consistency"]], device)
            row["model_clip"] = fps(lambda k: models.clip.encode_image(cpx[:k]), n["background_consistency"])
            letter = torch.rand(n["detector"], 3, 384 if w > h else 640, 640, device=device)
            # The predictor (set up by the detector's first call) runs its own fused copy inside AutoBackend.
            inner = yolo.predictor.model
            row["model_yolo"] = fps(lambda k: inner(letter[:k]), n["detector"])
        row["dino_input"] = list(d.shape[-2:])
        results["sizes"][f"{w}x{h}"] = row

    # One whole per-clip scorer run from video files.
    c = t = 5 if smoke else 9
    h, w = sizes[-1]
    tmp = Path(tempfile.mkdtemp(prefix="bench-metrics-"))
    gt = synthetic_video(c + t, h, w, seed=2)
    write_mp4(tmp / "gt.mp4", gt)
    write_mp4(tmp / "pred.mp4", synthetic_video(c + t, h, w, seed=3))
    events, subjects = clip_annotations(c, t, h, w)
    clock = ForwardClock([models.lpips, models.dino, models.clip.visual, yolo.predictor.model], sync)
    start = time.perf_counter()
    score = score_clip_files(tmp / "pred.mp4", tmp / "gt.mp4", context_frames=c, pred_includes_context=True,
                             events=events, subjects=subjects, models=models,
                             dsc_config=DSCConfig(max_context_frames=4))
    total = time.perf_counter() - start
    clock.close()
    pixel = score.seconds.get("psnr", 0) + score.seconds.get("ssim", 0)
    decode = score.seconds["decode"]
    rest = total - clock.seconds - pixel - decode
    results["scorer"] = dict(size=f"{w}x{h}", context_frames=c, target_frames=t, total_s=total,
                             model_forward_s=clock.seconds, model_calls=clock.calls, decode_s=decode,
                             pixel_metrics_s=pixel, other_s=rest, per_metric_s=score.seconds,
                             beyond_models_share=(total - clock.seconds) / total,
                             glue_share=rest / total, dsc_terms=score.details.get("dsc_terms"))

    print(f"\nframes per second ({device}); 'model' rows are bare forward passes on preprocessed input")
    names = ["psnr", "ssim", "lpips", "model_lpips", "subject_consistency", "model_dino", "background_consistency",
             "model_clip", "detector", "model_yolo"]
    keys = list(results["sizes"])
    print(f"{'metric':28s}" + "".join(f"{k:>12s}" for k in keys))
    for name in names:
        print(f"{name:28s}" + "".join(f"{results['sizes'][k][name]:12.2f}" for k in keys))
    print("DINO input after VBench preprocessing: " + ", ".join(f"{k}: {results['sizes'][k]['dino_input']}" for k in keys))
    s = results["scorer"]
    print(f"\nper-clip scorer, {s['size']}, {c}+{t} frames, all metrics, files decoded once: {s['total_s']:.2f} s")
    print(f"  model forwards {s['model_forward_s']:.2f} s ({s['model_calls']} calls), decode {s['decode_s']:.2f} s, "
          f"psnr+ssim {s['pixel_metrics_s']:.2f} s, everything else {s['other_s']:.2f} s")
    print(f"  time beyond the models' own forward passes: {100 * s['beyond_models_share']:.1f}% "
          f"(of which decode + pixel metrics {100 * (s['decode_s'] + s['pixel_metrics_s']) / s['total_s']:.1f}%, "
          f"preprocessing/NMS/glue {100 * s['glue_share']:.1f}%)")
    print("  per metric (s): " + ", ".join(f"{k} {v:.2f}" for k, v in s["per_metric_s"].items()))
    print("\n" + json.dumps(results, default=float))


if __name__ == "__main__":
    main()
