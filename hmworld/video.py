"""Video I/O through PyAV (it ships its own libx264; OpenCV's wheels cannot encode H.264).

Encoding is deterministic: fixed encoder options and thread count, no timestamps or creation dates in the
container, so the same frames always give the same bytes.
"""
from __future__ import annotations

import os
import uuid
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path

import numpy as np

from hmworld.errors import HMWorldError


@dataclass(frozen=True)
class EncoderSettings:
    codec: str = "libx264"
    crf: int = 18
    preset: str = "veryfast"
    threads: int = 2  # fixed: x264's output must not depend on the machine's core count

    def options(self) -> dict[str, str]:
        # mbtree off: with it on, the x264 in PyAV 18's wheel gave different bytes for the same frames in 2 to 15
        # of 16 encodes (even with one thread; asm=0 or mbtree=0 made all 24 of 24 identical), which broke the
        # split fingerprint and byte-identical resumes. Costs a little compression at the same crf.
        return {"crf": str(self.crf), "preset": self.preset, "x264-params": "mbtree=0"}


class VideoWriter:
    """Streams RGB uint8 frames [H, W, 3] into an H.264 MP4 (yuv420p).

    Encoding runs in the caller's thread: a worker-thread encoder measured no faster end to end on 2 cores
    (perf/bench_render.py history), since llvmpipe already keeps both cores busy while rendering.
    """

    def __init__(self, path: str | Path, width: int, height: int, fps: float,
                 settings: EncoderSettings = EncoderSettings()):
        import av

        self._av = av
        self.path = Path(path)
        self.width, self.height = width, height
        self.container = av.open(str(self.path), mode="w", format="mp4")
        rate = Fraction(fps).limit_denominator(1001)
        self.stream = self.container.add_stream(settings.codec, rate=rate, options=settings.options())
        self.stream.width, self.stream.height = width, height
        self.stream.pix_fmt = "yuv420p"
        self.stream.codec_context.thread_count = settings.threads
        self.frames = 0

    def write(self, rgb: np.ndarray) -> None:
        if rgb.shape != (self.height, self.width, 3) or rgb.dtype != np.uint8:
            raise ValueError(f"frame must be uint8 [{self.height}, {self.width}, 3], got {rgb.dtype} {list(rgb.shape)}")
        frame = self._av.VideoFrame.from_ndarray(rgb, format="rgb24")
        frame.pts = self.frames
        for packet in self.stream.encode(frame):
            self.container.mux(packet)
        self.frames += 1

    def close(self) -> None:
        if self.container is None:
            return
        try:
            for packet in self.stream.encode():
                self.container.mux(packet)
        finally:
            self.container.close()
            self.container = None

    def __enter__(self) -> "VideoWriter":
        return self

    def __exit__(self, *exc) -> None:
        self.close()


def write_video(path: str | Path, frames: np.ndarray, fps: float, settings: EncoderSettings = EncoderSettings()) -> None:
    frames = np.asarray(frames)
    with VideoWriter(path, frames.shape[2], frames.shape[1], fps, settings) as w:
        for f in frames:
            w.write(f)


PARTIAL_PREFIX = ".tmp-"  # a video being written; a killed writer leaves one behind (remove_partial_videos)


def write_video_atomic(path: str | Path, frames: np.ndarray, fps: float,
                       settings: EncoderSettings = EncoderSettings()) -> None:
    """The video appears whole or not at all: written to a temporary sibling, then renamed into place."""
    path = Path(path)
    tmp = path.with_name(f"{PARTIAL_PREFIX}{path.stem}-{uuid.uuid4().hex[:8]}.mp4")
    try:
        write_video(tmp, frames, fps, settings)
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)


def remove_partial_videos(folder: str | Path) -> None:
    """Delete the temporary videos a killed writer left in `folder`."""
    for stale in Path(folder).glob(f"{PARTIAL_PREFIX}*.mp4"):
        stale.unlink()


@dataclass(frozen=True)
class VideoInfo:
    width: int
    height: int
    fps: float
    frames: int  # as declared by the container (may be 0 when unknown)
    codec: str


def probe_video(path: str | Path) -> VideoInfo:
    import av

    try:
        with av.open(str(path)) as c:
            s = c.streams.video[0]
            rate = s.average_rate or s.guessed_rate or 0
            return VideoInfo(s.codec_context.width, s.codec_context.height, float(rate), int(s.frames or 0), s.codec_context.name)
    except (av.error.FFmpegError, IndexError) as exc:
        raise HMWorldError(f"{path}: not a readable video ({exc})") from exc


def read_video(path: str | Path, start: int = 0, stop: int | None = None, max_frames: int = 100_000) -> np.ndarray:
    """Decode frames [start, stop) to uint8 [T, H, W, 3] RGB. Refuses more than max_frames frames."""
    import av

    out = []
    try:
        with av.open(str(path)) as c:
            stream = c.streams.video[0]
            stream.thread_type = "AUTO"
            for i, frame in enumerate(c.decode(stream)):
                if stop is not None and i >= stop:
                    break
                if i >= max_frames:
                    raise HMWorldError(f"{path}: more than {max_frames} frames")
                if i >= start:
                    out.append(frame.to_ndarray(format="rgb24"))
    except (av.error.FFmpegError, IndexError) as exc:
        raise HMWorldError(f"{path}: cannot decode ({exc})") from exc
    if not out:
        raise HMWorldError(f"{path}: no frames in [{start}, {stop})")
    return np.stack(out)
