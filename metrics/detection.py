"""Detector and crop-embedder interfaces for DSC, with the YOLO11 and CLIP implementations.

DSC only needs "boxes of COCO classes in these frames" and "unit vectors for these crops"; anything with
these two small interfaces can be injected (tests use a detector that reads the renderer's boxes).
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path
from typing import Optional, Protocol, Sequence

import numpy as np

from .conventions import DSC_DETECTOR_CONF, DSC_DETECTOR_IMGSZ

Box = tuple[float, float, float, float]   # x0, y0, x1, y1 in pixels, x1/y1 exclusive edges


@dataclass(frozen=True)
class Detection:
    box: Box
    score: float
    cls: int


class Detector(Protocol):
    def detect(self, frames: np.ndarray, classes: Sequence[int]) -> list[list[Detection]]:
        """Detections of the given COCO classes, one list per frame of uint8 RGB [N, H, W, 3]."""


class CropEmbedder(Protocol):
    def embed(self, crops: Sequence[np.ndarray]) -> np.ndarray:
        """L2-normalised embeddings [N, D] of uint8 RGB crops [h, w, 3]."""


def detector_name(detector) -> str:
    """How a score names the detector it used: its `name` (YoloDetector: the checkpoint file), else its class."""
    if detector is None:
        return "none"
    return str(getattr(detector, "name", None) or type(detector).__name__)


def iou(a: Box, b: Box) -> float:
    ix = max(0.0, min(a[2], b[2]) - max(a[0], b[0]))
    iy = max(0.0, min(a[3], b[3]) - max(a[1], b[1]))
    inter = ix * iy
    union = (a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - inter
    return inter / union if union > 0 else 0.0


def crop(frame: np.ndarray, box: Box, min_side: int = 2) -> Optional[np.ndarray]:
    """The pixels of `box`, rounded outwards to whole pixels and clipped to the frame; None if too small."""
    h, w = frame.shape[:2]
    x0, y0 = max(0, math.floor(box[0])), max(0, math.floor(box[1]))
    x1, y1 = min(w, math.ceil(box[2])), min(h, math.ceil(box[3]))
    if x1 - x0 < min_side or y1 - y0 < min_side:
        return None
    return frame[y0:y1, x0:x1]


class YoloDetector:
    """ultralytics YOLO11 on RGB frames (ultralytics reads numpy arrays as BGR, so channels are flipped)."""

    def __init__(self, model, device: Optional[str] = None, conf: float = DSC_DETECTOR_CONF,
                 imgsz: int = DSC_DETECTOR_IMGSZ, batch_frames: int = 8, name: Optional[str] = None):
        self.model, self.device, self.conf, self.imgsz, self.batch_frames = model, device, conf, imgsz, batch_frames
        # What the score records as its detector: the checkpoint file name (the model's own, else the given one).
        ckpt = getattr(model, "ckpt_path", None) or getattr(model, "model_name", None)
        self.name = name or (Path(str(ckpt)).name if ckpt else "YOLO")

    def detect(self, frames: np.ndarray, classes: Sequence[int]) -> list[list[Detection]]:
        out: list[list[Detection]] = []
        for i in range(0, len(frames), self.batch_frames):
            batch = [np.ascontiguousarray(f[..., ::-1]) for f in frames[i:i + self.batch_frames]]
            results = self.model.predict(batch, conf=self.conf, imgsz=self.imgsz, classes=list(classes) or None,
                                         device=self.device, verbose=False)
            for r in results:
                xyxy = r.boxes.xyxy.cpu().numpy()
                conf = r.boxes.conf.cpu().numpy()
                cls = r.boxes.cls.cpu().numpy().astype(int)
                out.append([Detection(tuple(map(float, b)), float(c), int(k)) for b, c, k in zip(xyxy, conf, cls)])
        return out


class ClipCropEmbedder:
    """open_clip image embeddings of crops with open_clip's eval preprocessing (or a given transform)."""

    def __init__(self, clip_model, device: Optional[str] = None, transform=None, batch_crops: int = 32):
        from .models import clip_crop_transform

        self.model = clip_model
        self.device = device or next(clip_model.parameters()).device
        self.transform = transform or clip_crop_transform(clip_model)
        self.batch_crops = batch_crops

    def embed(self, crops: Sequence[np.ndarray]) -> np.ndarray:
        import torch
        from PIL import Image

        if not crops:
            return np.zeros((0, 0), dtype=np.float32)
        out = []
        with torch.inference_mode():
            for i in range(0, len(crops), self.batch_crops):
                x = torch.stack([self.transform(Image.fromarray(np.ascontiguousarray(c)))
                                 for c in crops[i:i + self.batch_crops]]).to(self.device)
                f = self.model.encode_image(x).float()
                out.append(torch.nn.functional.normalize(f, dim=-1).cpu().numpy())
        return np.concatenate(out)
