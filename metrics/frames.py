"""Frame arrays: validation, decoding, device choice.

Every metric takes uint8 RGB arrays shaped [T, H, W, 3]. Videos are decoded here exactly once
per file and the resulting array is shared by every metric of a clip.
"""
from __future__ import annotations

from pathlib import Path
from typing import Optional, Union

import numpy as np


class MetricInputError(ValueError):
    """The arrays handed to a metric do not meet its contract (dtype, shape, frame count)."""


def check_video(video: np.ndarray, name: str = "video", min_frames: int = 1) -> np.ndarray:
    """Return `video` if it is a uint8 [T, H, W, 3] array, else raise a MetricInputError naming the fault."""
    if not isinstance(video, np.ndarray):
        raise MetricInputError(f"{name}: expected a numpy array, got {type(video).__name__}")
    if video.dtype != np.uint8:
        raise MetricInputError(f"{name}: expected dtype uint8 (decoded RGB), got {video.dtype}")
    if video.ndim != 4 or video.shape[-1] != 3:
        raise MetricInputError(f"{name}: expected shape [T, H, W, 3], got {list(video.shape)}")
    if video.shape[0] < min_frames:
        raise MetricInputError(f"{name}: needs at least {min_frames} frame(s), got {video.shape[0]}")
    if video.shape[1] < 1 or video.shape[2] < 1:
        raise MetricInputError(f"{name}: empty frames {list(video.shape)}")
    return video


def check_pair(pred: np.ndarray, target: np.ndarray, min_size: int = 1) -> None:
    """Prediction and ground truth must agree in frame count and size; say which differs."""
    check_video(pred, "pred")
    check_video(target, "target")
    if pred.shape[0] != target.shape[0]:
        raise MetricInputError(
            f"frame count differs: pred has {pred.shape[0]} frames, target has {target.shape[0]}")
    if pred.shape[1:3] != target.shape[1:3]:
        raise MetricInputError(
            f"frame size differs: pred is {pred.shape[2]}x{pred.shape[1]}, "
            f"target is {target.shape[2]}x{target.shape[1]} (width x height)")
    if min(pred.shape[1:3]) < min_size:
        raise MetricInputError(
            f"frames of {pred.shape[2]}x{pred.shape[1]} are smaller than the {min_size}-pixel window")


# The colour convention of every decode (prediction and ground truth alike), passed to swscale explicitly so
# the pixels never depend on a PyAV/FFmpeg version's defaults: the YUV -> RGB matrix the stream declares
# (H.273 matrix_coefficients: 1 BT.709, 5/6 BT.601, 7 SMPTE 240M, 9/10 BT.2020), BT.601 when it declares
# none or another one (what swscale, x264 and RGB-to-H.264 writers assume, and what this toolkit's writer
# produces); the range it declares (2 full/"JPEG"), limited (MPEG) otherwise; output full-range 8-bit RGB;
# bilinear chroma upsampling. Two files holding the same RGB frames therefore decode alike whichever matrix
# each was (correctly) tagged with.
COLOUR_MATRICES = {1: "ITU709", 5: "ITU601", 6: "ITU601", 7: "SMPTE240M", 9: "BT2020", 10: "BT2020"}
COLOUR_DEFAULT_MATRIX = "ITU601"


def colour_convention(frame) -> tuple[str, str]:
    """(matrix, range) the convention decodes `frame` with."""
    matrix = COLOUR_MATRICES.get(int(frame.colorspace or 0), COLOUR_DEFAULT_MATRIX)
    full = int(frame.color_range or 0) == 2
    return matrix, "JPEG" if full else "MPEG"


def frame_to_rgb(frame) -> np.ndarray:
    """One decoded PyAV frame -> uint8 RGB [H, W, 3] under the colour convention above."""
    matrix, rng = colour_convention(frame)
    return frame.to_ndarray(format="rgb24", src_colorspace=matrix, dst_colorspace=matrix, src_color_range=rng,
                            dst_color_range="JPEG", interpolation="BILINEAR")


def video_rate(path: Union[str, Path]) -> Optional[float]:
    """The frame rate a video's first stream declares (average, else guessed), or None."""
    import av

    with av.open(str(path)) as container:
        stream = container.streams.video[0]
        rate = stream.average_rate or stream.guessed_rate
    return float(rate) if rate else None


def decode_video(path: Union[str, Path]) -> np.ndarray:
    """Decode every frame of a video file to uint8 RGB [T, H, W, 3] with PyAV, under the colour convention."""
    import av

    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"video not found: {path}")
    frames = []
    with av.open(str(path)) as container:
        stream = container.streams.video[0]
        # Threaded decoding changes nothing in the pixels and roughly halves decode time.
        stream.thread_type = "AUTO"
        for frame in container.decode(stream):
            frames.append(frame_to_rgb(frame))
    if not frames:
        raise MetricInputError(f"{path}: no video frames decoded")
    return np.stack(frames)


def to_float_tensor(frames: np.ndarray, device: str = "cpu"):
    """uint8 [T, H, W, 3] -> float32 torch [T, 3, H, W] in [0, 1]."""
    import torch

    t = torch.from_numpy(np.ascontiguousarray(frames)).to(device)
    # Planar (contiguous NCHW) memory: the permuted view would keep channels-last strides and slow every op.
    return t.permute(0, 3, 1, 2).contiguous().float().div_(255.0)
