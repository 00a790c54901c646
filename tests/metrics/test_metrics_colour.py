"""One colour convention for both sides: each video is converted to RGB with the matrix and range it declares
(BT.601 limited when it declares none), passed to swscale explicitly. Real PyAV files, encoded losslessly so
that only the colour conversion differs."""
import numpy as np
import pytest

from hmworld.metrics import MetricInputError
from hmworld.metrics.frames import colour_convention, decode_video
from hmworld.metrics.scorer import load_clip_videos
from hmworld.video import write_video

H, W = 64, 96


def _blocks(seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Flat 16x16 colour blocks and a mask of their interiors (4:2:0 chroma is exact away from the edges)."""
    rng = np.random.default_rng(seed)
    rgb = np.repeat(np.repeat(rng.integers(0, 256, (H // 16, W // 16, 3)), 16, 0), 16, 1).astype(np.uint8)
    inner = np.zeros((H, W), bool)
    for i in range(0, H, 16):
        for j in range(0, W, 16):
            inner[i + 3:i + 13, j + 3:j + 13] = True
    return rgb, inner


def _write_tagged(path, rgb: np.ndarray, matrix: str, tag: int | None, full: bool = False, frames: int = 2,
                  fps: int = 15) -> None:
    """Encode with the given RGB->YUV matrix and range, tagging the stream (tag None: untagged)."""
    import av

    with av.open(str(path), "w", format="mp4") as c:
        s = c.add_stream("libx264", rate=fps, options={"qp": "0", "preset": "veryfast"})
        s.width, s.height, s.pix_fmt = W, H, "yuv420p"
        if tag is not None:
            s.codec_context.colorspace = tag
            s.codec_context.color_range = 2 if full else 1
        for i in range(frames):
            f = av.VideoFrame.from_ndarray(rgb, format="rgb24").reformat(
                format="yuv420p", dst_colorspace=matrix, dst_color_range="JPEG" if full else "MPEG")
            f.pts = i
            for p in s.encode(f):
                c.mux(p)
        for p in s.encode():
            c.mux(p)


def _default_decode(path) -> np.ndarray:
    import av

    with av.open(str(path)) as c:
        return np.stack([f.to_ndarray(format="rgb24", src_colorspace="ITU601", src_color_range="MPEG")
                         for f in c.decode(c.streams.video[0])])


def test_bt601_and_bt709_tagged_files_of_the_same_frames_decode_alike(tmp_path):
    rgb, inner = _blocks()
    _write_tagged(tmp_path / "bt601.mp4", rgb, "ITU601", 6)          # SMPTE 170M (BT.601 525)
    _write_tagged(tmp_path / "bt709.mp4", rgb, "ITU709", 1)
    _write_tagged(tmp_path / "bt709full.mp4", rgb, "ITU709", 1, full=True)
    a, b, c = (decode_video(tmp_path / n).astype(int) for n in ("bt601.mp4", "bt709.mp4", "bt709full.mp4"))
    for v in (a, b, c):
        assert np.abs(v[:, inner] - rgb[inner]).max() <= 3                     # 8-bit YUV rounding only
    assert np.abs(a[:, inner] - b[:, inner]).max() <= 4
    # The same BT.709 file converted as if it were BT.601 (a decoder ignoring the tag) is far off: what the
    # convention prevents.
    wrong = _default_decode(tmp_path / "bt709.mp4").astype(int)
    assert np.abs(wrong[:, inner] - rgb[inner]).max() >= 15


def test_untagged_files_are_bt601_limited_and_our_writer_is_unchanged(tmp_path):
    rgb, inner = _blocks(1)
    write_video(tmp_path / "ours.mp4", np.stack([rgb, rgb]), 15)
    import av

    with av.open(str(tmp_path / "ours.mp4")) as cont:
        frame = next(cont.decode(cont.streams.video[0]))
        assert colour_convention(frame) == ("ITU601", "MPEG")
    # Our own (untagged) files decode exactly as a BT.601 limited-range decode: ground truth scores do not move.
    assert np.array_equal(decode_video(tmp_path / "ours.mp4"), _default_decode(tmp_path / "ours.mp4"))


def test_a_prediction_at_another_frame_rate_is_refused(tmp_path):
    rgb, _ = _blocks(2)
    write_video(tmp_path / "gt.mp4", np.stack([rgb] * 4), 15)
    _write_tagged(tmp_path / "pred.mp4", rgb, "ITU601", None, frames=2, fps=30)
    with pytest.raises(MetricInputError, match=r"pred.mp4: 30.0 fps, the ground truth .*gt.mp4 is 15.0 fps"):
        load_clip_videos(tmp_path / "pred.mp4", tmp_path / "gt.mp4", context_frames=2, pred_includes_context=False)
    _write_tagged(tmp_path / "pred15.mp4", rgb, "ITU601", None, frames=2, fps=15)
    v = load_clip_videos(tmp_path / "pred15.mp4", tmp_path / "gt.mp4", context_frames=2, pred_includes_context=False)
    assert v.pred.shape == v.target.shape == (2, H, W, 3)
