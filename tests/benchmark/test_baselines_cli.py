"""Reference predictors and the command line: the README's main pipeline (predict-baseline, score, leaderboard),
a psnr-only installation without torch, `hmworld weights`, and clear errors."""
import sqlite3
import subprocess
import sys

import numpy as np
import pytest

from hmworld.benchmark import BenchmarkError, predict_baseline, read_submission_info
from hmworld.metrics import decode_video
from hmworld.split import Split
from tests.testlib import run_cli


def test_reference_predictors(small_split, subs, tmp_path):
    split = Split(small_split)
    clip = split[0]
    ctx = clip.context().astype(np.float64)
    last = decode_video(subs["repeat-last"] / f"{clip.clip_id}.mp4")
    mean = decode_video(subs["mean-context"] / f"{clip.clip_id}.mp4")
    assert last.shape == mean.shape == (clip.target_frames, 96, 160, 3)
    # H.264 at crf 18 is lossy: compare with a tolerance far below the difference between the two predictors
    assert np.abs(last.astype(float) - ctx[-1]).mean() < 2.5
    assert np.abs(mean.astype(float) - ctx.mean(axis=0)).mean() < 2.5
    assert np.abs(last.astype(float) - mean.astype(float)).mean() > 5
    info = read_submission_info(subs["mean-context"])
    assert (info.model, info.includes_context, info.split_fingerprint) == ("mean-context", False, split.fingerprint)

    # Rerun: nothing rewritten, identical bytes; a half-written temporary file is cleared.
    out = tmp_path / "rl"
    predict_baseline("repeat-last", small_split, out)
    before = {p.name: p.read_bytes() for p in out.iterdir()}
    (out / ".tmp-deadbeef.mp4").write_bytes(b"partial")
    (out / f"{clip.clip_id}.mp4").unlink()
    r = predict_baseline("repeat-last", small_split, out)
    assert (r.written, r.already) == (1, 2)
    assert {p.name: p.read_bytes() for p in out.iterdir()} == before
    with pytest.raises(BenchmarkError, match="holds a different submission"):
        predict_baseline("mean-context", small_split, out)
    with pytest.raises(BenchmarkError, match="name='last': choose one of"):
        predict_baseline("last", small_split, out)


def _panning_poses(yaws_deg, x=None) -> np.ndarray:
    """Level cameras 1.6 m up at (x, 0), looking at the given yaws (0: along +x); OpenCV c2w, as camera.json."""
    from hmworld.geometry import look_at

    yaws = np.radians(np.asarray(yaws_deg, float))
    x = np.zeros(len(yaws)) if x is None else np.asarray(x, float)
    pos = np.stack([x, np.zeros_like(x), np.full_like(x, 1.6)], 1)
    return look_at(pos, pos + np.stack([np.cos(yaws), np.sin(yaws), np.zeros_like(yaws)], 1))


def test_nearest_view_recalls_the_context_view_the_target_camera_looks_at_again():
    from hmworld.benchmark.baselines import nearest_view_indices

    # context: a pan from 0 to 45 degrees and a walk forward; target: the same poses backwards (the pan back)
    ctx_yaw, ctx_x = np.linspace(0, 45, 10), np.linspace(0, 1, 10)
    c2w = np.concatenate([_panning_poses(ctx_yaw, ctx_x), _panning_poses(ctx_yaw[::-1], ctx_x[::-1])])
    np.testing.assert_array_equal(nearest_view_indices(c2w, 10, 80.0, 16 / 9), np.arange(10)[::-1])
    # a view between two context views takes one of them, never a far one
    mid = _panning_poses([0, 20, 40], [0, 0, 0])
    picked = nearest_view_indices(np.concatenate([_panning_poses(ctx_yaw), mid]), 10, 80.0, 16 / 9)
    assert [abs(ctx_yaw[i] - y) for i, y in zip(picked, (0, 20, 40))] == pytest.approx([0, 0, 0], abs=5.0)
    # equally good views: the most recent one (the scene as it was last seen)
    same = _panning_poses([10, 30, 30, 10])
    np.testing.assert_array_equal(nearest_view_indices(same, 3, 80.0, 16 / 9), [0])
    np.testing.assert_array_equal(nearest_view_indices(_panning_poses([30, 30, 10, 30]), 3, 80.0, 16 / 9), [1])


def test_main_pipeline_on_the_command_line(small_split, tmp_path):
    board = tmp_path / "board"
    # hydra.sweep.dir: the multirun bookkeeping would otherwise stay in $TMPDIR/hmworld-multirun
    run_cli("predict-baseline", "--multirun", "name=repeat-last,mean-context,nearest-view", f"split={small_split}",
            f"out={board}/${{name}}", "progress=false", f"hydra.sweep.dir={tmp_path}/sweep-predict")
    results = board / "results.sqlite"
    proc = run_cli("score", "--multirun", f"submission={board}/repeat-last,{board}/mean-context,{board}/nearest-view",
                   f"split={small_split}", f"results={results}", "metrics=[psnr]",
                   f"hydra.sweep.dir={tmp_path}/sweep-score")
    assert proc.stdout.count("3 clips scored, 0 already in the store") == 3
    assert "━" in proc.stdout                                          # rich progress bars ran
    proc = run_cli("leaderboard", f"results={results}", f"out={board}/site")
    page = (board / "site" / "index.html").resolve()
    assert f"leaderboard page: {page}" in proc.stdout.replace("\n", "")
    rows = [ln.split(",") for ln in (board / "site" / "leaderboard.csv").read_text().splitlines()[1:]]
    assert sorted(r[0] for r in rows) == ["mean-context", "nearest-view", "repeat-last"]  # who wins: the clips'
    assert float(rows[0][1]) >= float(rows[1][1]) >= float(rows[2][1])                    # ranked by PSNR
    again = run_cli("score", f"submission={board}/repeat-last", f"split={small_split}", f"results={results}",
                    "metrics=[psnr]", "progress=false")
    assert "0 clips scored, 3 already in the store" in again.stdout

    bad = run_cli("score", f"submission={board}/repeat-last", f"split={small_split}", f"results={results}",
                  "metrics=[psnr,fid]", check=False)
    assert bad.returncode == 2 and "metrics=['fid']: unknown" in bad.stderr and "Traceback" not in bad.stderr
    missing = run_cli("score", f"submission={board}/nothing", f"split={small_split}", f"results={results}", check=False)
    assert missing.returncode == 2 and "no such folder or archive" in missing.stderr
    usage = run_cli("--help")
    for cmd in ("score", "score-merge", "leaderboard", "predict-baseline", "weights"):
        assert f"  {cmd} " in usage.stdout
    help_ = run_cli("score", "--help")
    assert "partial: false" in help_.stdout and "num_shards: 1" in help_.stdout


def test_weights_command(tiny_weights, tmp_path):
    proc = run_cli("weights", f"weights_dir={tmp_path}", check=False)
    assert proc.returncode == 1 and "MISSING" in proc.stdout and "alexnet-owt-7be5be79.pth" in proc.stdout
    proc = run_cli("weights", f"weights_dir={tiny_weights}", "yolo_weights=yolo11n.pt", "model=tiny", "captioner=template",
                  check=False)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "7/7 present" in proc.stdout and "not needed" in proc.stdout   # 5 metric files + the tiny model's 2 parts


def test_scoring_without_torch(small_split, subs, tmp_path):
    """The base installation has no torch: PSNR is computed, everything else is listed as not installed."""
    results = tmp_path / "r.sqlite"
    code = ("import sys; sys.modules['torch'] = None\n"
            "from hmworld.benchmark.scoring import ScoreConfig, score_submission\n"
            f"r = score_submission(ScoreConfig({str(subs['repeat-last'])!r}, {str(small_split)!r}, {str(results)!r}))\n"
            "assert 'torch' not in [m for m in sys.modules if sys.modules[m] is not None]\n"
            "print(sorted(m for m, (s, _) in r.metric_status.items() if s == 'computed'))\n")
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == "['psnr']"
    with sqlite3.connect(results) as db:
        status = dict(db.execute("SELECT metric_group, status FROM metric_status"))
    assert status["ssim"] == "not installed" and status["lpips"] == "not installed"


def test_png_thumbnails_without_pillow_decode_exactly():
    """Without Pillow (the base installation) thumbnails are PNGs written by the standard library."""
    import io

    from PIL import Image

    from hmworld.benchmark.thumbs import _png, downscale

    rng = np.random.default_rng(0)
    frame = rng.integers(0, 256, (240, 416, 3), dtype=np.uint8)
    small = downscale(frame)
    assert small.shape == (80, 138, 3)                       # 416 / 3 <= 192: box filter by 3
    assert abs(int(small[0, 0, 0]) - frame[:3, :3, 0].mean()) <= 0.5
    back = np.asarray(Image.open(io.BytesIO(_png(small))).convert("RGB"))
    assert np.array_equal(back, small)
