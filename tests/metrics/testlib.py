"""Helpers for the metrics tests: tiny model weights, synthetic exit-entry clips, a change detector."""
from __future__ import annotations

from pathlib import Path
from typing import Optional

import numpy as np

TINY_DINO = dict(embed_dim=48, depth=1, num_heads=2)
TINY_CLIP = dict(
    embed_dim=32,
    vision_cfg=dict(image_size=224, layers=1, width=64, patch_size=32, head_width=32),
    text_cfg=dict(context_length=77, vocab_size=49408, width=32, heads=2, layers=1),
)
TINY_YOLO = "yolo11n.pt"


def build_tiny_weights(d: Path, seed: int = 0) -> None:
    """Random-initialised models of the production classes, saved under the file names the loaders look for."""
    import lpips
    import open_clip
    import timm
    import torch
    from safetensors.torch import save_file
    from ultralytics import YOLO

    import warnings

    torch.manual_seed(seed)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)    # lpips uses torchvision's deprecated `pretrained=`
        trunk = lpips.LPIPS(net="alex", version="0.1", pnet_rand=True, verbose=False).net
    # Saved as torchvision AlexNet names ("features.<i>.*"); the classifier half is not needed by LPIPS.
    feats = {f"features.{n.split('.', 1)[1]}": p.detach().clone() for n, p in trunk.named_parameters()}
    torch.save(feats, d / "alexnet-owt-7be5be79.pth")
    dino = timm.create_model("vit_base_patch16_224.dino", pretrained=False, num_classes=0, dynamic_img_size=True,
                             **TINY_DINO)
    save_file(dino.state_dict(), str(d / "vit_base_patch16_224.dino.safetensors"))
    clip = open_clip.create_model("ViT-B-32-quickgelu", pretrained=None, **TINY_CLIP)
    save_file({k: v.contiguous() for k, v in clip.state_dict().items()},
              str(d / "ViT-B-32-quickgelu.openai.safetensors"))
    YOLO("yolo11n.yaml").save(str(d / TINY_YOLO))


# ---------------------------------------------------------------- synthetic exit-entry clip

def _background(h: int, w: int, rng) -> np.ndarray:
    yy, xx = np.mgrid[0:h, 0:w]
    bg = np.stack([60 + 80 * xx / w, 90 + 60 * yy / h, 140 - 50 * xx / w], -1)
    bg += rng.normal(0, 6, size=bg.shape)
    return np.clip(bg, 0, 255).astype(np.uint8)


def _subject_sprite(sh: int, sw: int) -> np.ndarray:
    sprite = np.zeros((sh, sw, 3), np.uint8)
    sprite[:] = (200, 40, 40)
    sprite[:, ::4] = (250, 220, 30)                   # stripes give the crop texture
    sprite[: sh // 4, sw // 4: 3 * sw // 4] = (240, 190, 160)   # a "head"
    sprite[sh // 2:, :] //= 2
    return sprite


def synthetic_clip(c: int = 21, t: int = 21, h: int = 96, w: int = 160, seed: int = 0, coco_class: int = 0):
    """A static-camera clip: one striped subject walks out to the right in the context half and walks back
    in during the target half. Returns frames, per-frame backgrounds, masks and schema-true dicts."""
    rng = np.random.default_rng(seed)
    bg = _background(h, w, rng)
    sh, sw = 36, 20
    sprite = _subject_sprite(sh, sw)
    y0 = 40
    frames, masks, boxes = [], [], []
    for f in range(c + t):
        if f <= 12:
            x0 = 40 + 12 * f
        elif f < c + 5:
            x0 = w + 40       # out of view
        else:
            x0 = w - 8 * (f - (c + 4))
        frame, mask = bg.copy(), np.zeros((h, w), bool)
        xa, xb = max(0, x0), min(w, x0 + sw)
        if xb > xa:
            frame[y0:y0 + sh, xa:xb] = sprite[:, xa - x0: xb - x0]
            mask[y0:y0 + sh, xa:xb] = True
        frames.append(frame)
        masks.append(mask)
        boxes.append(([x0, y0, x0 + sw, y0 + sh], [xa, y0, xb, y0 + sh] if xb > xa else None, int(mask.sum())))
    video = np.stack(frames)
    min_px = 20
    vis = [b[2] >= min_px for b in boxes]
    intervals, start = [], None
    for f, v in enumerate(vis + [False]):
        if v and start is None:
            start = f
        if not v and start is not None:
            intervals.append([start, f])
            start = None
    # Short clips (used by non-DSC tests) may have no exit-entry event: then the events list is empty.
    exit_frame = next((f for f in range(1, c) if vis[f - 1] and not vis[f]), None)
    entry_frame = next((f for f in range(max(exit_frame or 0, c), c + t) if vis[f]), None)
    evs = [{"exit_frame": exit_frame, "entry_frame": entry_frame}] if exit_frame and entry_frame else []
    subjects = {"version": 1, "subjects": [{
        "instance_id": 1, "name": "striped", "kind": "human", "coco_class": coco_class,
        "frames": [{"position": [0.0, 0.0, 0.0], "heading": 0.0, "box": b[0],
                    "visible_box": b[1] if b[2] >= min_px else None, "visible_pixels": b[2]} for b in boxes]}]}
    events = {"version": 1, "min_visible_pixels": min_px, "context_frames": c, "target_frames": t,
              "subjects": [{"instance_id": 1, "visible_intervals": intervals,
                            "events": evs}]}
    return dict(video=video, background=np.broadcast_to(bg, video.shape).copy(), masks=np.stack(masks),
                subjects=subjects, events=events, context_frames=c)


def recolour(video: np.ndarray, masks: np.ndarray) -> np.ndarray:
    """The same subject with other colours (channels rotated and inverted) where the masks say."""
    out = video.copy()
    out[masks] = 255 - video[masks][:, [2, 0, 1]]
    return out


def vanish(video: np.ndarray, masks: np.ndarray, background: np.ndarray) -> np.ndarray:
    """The subject removed: its pixels replaced by the empty-scene background."""
    out = video.copy()
    out[masks] = background[masks]
    return out


class ChangeDetector:
    """A real pixel-based detector for tests: background subtraction against known empty-scene plates.

    It finds which plate a frame belongs to (nearest in mean squared difference: the subject is small), then
    reports the bounding box of each connected region that differs from the plate by more than `threshold`.
    `classes_of(index, region_mask)` names the COCO class (the scene's subjects are known to the test).
    """

    def __init__(self, plates: np.ndarray, cls: int = 0, threshold: int = 40, min_pixels: int = 15):
        self.plates = plates.astype(np.int16)
        self.small = self.plates[:, ::4, ::4].astype(np.float32)
        self.cls, self.threshold, self.min_pixels = cls, threshold, min_pixels
        self.frames_seen = 0

    def detect(self, frames, classes):
        from scipy import ndimage

        from hmworld.metrics import Detection

        out = []
        for frame in frames:
            self.frames_seen += 1
            f = frame.astype(np.int16)
            k = int(np.argmin(((self.small - f[::4, ::4].astype(np.float32)) ** 2).mean(axis=(1, 2, 3))))
            diff = np.abs(f - self.plates[k]).max(axis=-1) > self.threshold
            labels, n = ndimage.label(diff)
            dets = []
            if self.cls in classes:
                for i, sl in enumerate(ndimage.find_objects(labels), start=1):
                    if sl is None or (labels[sl] == i).sum() < self.min_pixels:
                        continue
                    ys, xs = sl
                    score = float((labels[sl] == i).mean())
                    dets.append(Detection((xs.start, ys.start, xs.stop, ys.stop), score, self.cls))
            out.append(dets)
        return out


def write_mp4(path: Path, video: np.ndarray, fps: int = 15, crf: Optional[int] = 18) -> None:
    import av

    with av.open(str(path), "w") as out:
        s = out.add_stream("libx264", rate=fps)
        s.width, s.height, s.pix_fmt = video.shape[2], video.shape[1], "yuv420p"
        s.options = {"crf": str(crf)}
        for fr in video:
            for p in s.encode(av.VideoFrame.from_ndarray(fr, format="rgb24")):
                out.mux(p)
        for p in s.encode():
            out.mux(p)
