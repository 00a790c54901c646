"""Thumbnails of re-entry frames for the leaderboard page's drill-down (ground truth beside prediction).

JPEG through Pillow where it is installed (it comes with the metrics extra), else PNG written with the
standard library, so a psnr/ssim-only installation still gets thumbnails. Both are deterministic.
"""
from __future__ import annotations

import struct
import zlib

import numpy as np

from hmworld.split.schema import EventsFile

THUMB_WIDTH = 192
MAX_THUMBS_PER_CLIP = 3


def reentry_frames(events: EventsFile, context_frames: int, target_frames: int) -> list[int]:
    """The clip's re-entry frames (absolute indices, in the target half): each subject's entry_frame."""
    end = context_frames + target_frames
    frames = {e.entry_frame for _, e in events.events() if context_frames <= e.entry_frame < end}
    return sorted(frames)[:MAX_THUMBS_PER_CLIP]


def downscale(frame: np.ndarray, width: int = THUMB_WIDTH) -> np.ndarray:
    """Box-filter by an integer factor so the width is at most `width` (no resampling library needed)."""
    h, w = frame.shape[:2]
    k = max(1, -(-w // width))
    if k == 1:
        return np.ascontiguousarray(frame)
    h2, w2 = h // k, w // k
    block = frame[: h2 * k, : w2 * k].reshape(h2, k, w2, k, 3).astype(np.uint32)
    return ((block.sum(axis=(1, 3)) + k * k // 2) // (k * k)).astype(np.uint8)


def _png(rgb: np.ndarray) -> bytes:
    h, w = rgb.shape[:2]
    raw = b"".join(b"\x00" + rgb[y].tobytes() for y in range(h))

    def chunk(tag: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + tag + data + struct.pack(">I", zlib.crc32(tag + data) & 0xFFFFFFFF)

    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", w, h, 8, 2, 0, 0, 0)) +
            chunk(b"IDAT", zlib.compress(raw, 9)) + chunk(b"IEND", b""))


def encode_thumbnail(frame: np.ndarray) -> tuple[str, bytes]:
    """(mime type, bytes) of a small image of one uint8 RGB frame."""
    small = downscale(frame)
    try:
        import io

        from PIL import Image
    except ImportError:
        return "image/png", _png(small)
    buf = io.BytesIO()
    Image.fromarray(small).save(buf, format="JPEG", quality=85, optimize=True)
    return "image/jpeg", buf.getvalue()
