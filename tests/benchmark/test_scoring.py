"""Scoring and ranking: ground truth first, noise below, the reference floors; tiny-weight learned metrics;
kill-and-resume and shard-and-merge give the table of one uninterrupted run; reruns compute nothing."""
import signal
import sqlite3
import subprocess
import time

import pytest

from hmworld.benchmark import (BenchmarkError, CSV_COLUMNS, build_leaderboard, merge_stores, plan_metrics,
                               score_submission)
from hmworld.benchmark.scoring import ScoreConfig
from hmworld.metrics import CONVENTION_VERSION
from tests.benchmark.testlib import score_rows, tiny_models_factory
from tests.testlib import HMWORLD, run_cli


def _csv(path):
    return (path / "leaderboard.csv").read_text()


def test_ground_truth_ranks_first_and_noise_below(small_split, subs, tmp_path):
    results = tmp_path / "r.sqlite"
    for s in subs.values():
        score_submission(ScoreConfig(s, small_split, results, metrics=["psnr", "ssim"]))
    lb = build_leaderboard(results, tmp_path / "site")
    lines = _csv(tmp_path / "site").splitlines()
    assert tuple(lines[0].split(",")) == CSV_COLUMNS
    names = [ln.split(",")[0] for ln in lines[1:]]
    psnr = [float(ln.split(",")[1]) for ln in lines[1:]]
    # ranked by PSNR: the re-encoded ground truth (~40 dB) first, light noise (~33 dB) next, heavy noise lower
    assert names[:2] == ["gt-copy", "noise-8"] and names.index("noise-32") > 1 and len(names) == 5
    assert psnr == sorted(psnr, reverse=True) and psnr[0] > 35
    rows = {r.model: r for r in lb.groups[0].rows}
    assert rows["gt-copy"].values["ssim"] > rows["noise-8"].values["ssim"] > rows["noise-32"].values["ssim"]
    for ln in lines[1:]:
        cells = dict(zip(CSV_COLUMNS, ln.split(",")))
        assert cells["lpips"] == cells["dsc_gt"] == "" and cells["clips"] == "3" and cells["convention_version"] == CONVENTION_VERSION
    md = (tmp_path / "site" / "leaderboard.md").read_text()
    assert "| 1 | gt-copy |" in md and "Reported in the HyDRA paper" in md and "| HyDRA | arXiv:2603.25716 | 20.357 |" in md
    assert (tmp_path / "site" / "reported.csv").read_text().splitlines()[1].startswith("Baseline,")


def test_tiny_weights_all_metrics_and_weights_missing(small_split, subs, tiny_weights, tmp_path):
    # Without weights the default is the metrics that need none; the others are recorded as weights missing.
    empty = tmp_path / "no-weights"
    empty.mkdir()
    plan = plan_metrics(None, str(empty))
    assert plan.compute == ["psnr", "ssim", "masked"]
    assert plan.status["lpips"][0] == "weights missing" and "alexnet-owt-7be5be79.pth" in plan.status["lpips"][1]
    with pytest.raises(BenchmarkError, match=r"dsc: weights missing: ViT-B-32.pt .*; yolo11x.pt"):
        plan_metrics(["psnr", "dsc"], str(empty))

    plan = plan_metrics(None, str(tiny_weights), yolo_weights="yolo11n.pt")
    assert plan.compute == ["psnr", "ssim", "lpips", "dsc", "subject_consistency", "background_consistency", "masked"]
    models = tiny_models_factory(tiny_weights)
    results = tmp_path / "r.sqlite"
    r = score_submission(ScoreConfig(subs["gt"], small_split, results, weights_dir=str(tiny_weights),
                                     yolo_weights="yolo11n.pt"), models=models)
    assert r.scored == 3
    for k in ("lpips", "subject_consistency", "background_consistency", "dsc_miss_rate"):
        assert r.aggregate[k] is not None, k
    assert 0 <= r.aggregate["lpips"] < 0.05
    with sqlite3.connect(results) as db:
        (weights,) = db.execute("SELECT DISTINCT weights FROM scores WHERE metric='lpips'").fetchone()
        statuses = dict(db.execute("SELECT metric_group, status FROM metric_status"))
    assert "alexnet-owt-7be5be79.pth" in weights and len(weights) > 64
    assert set(statuses.values()) == {"computed"}
    # The same store scored again with no weights: nothing recomputed, nothing hidden.
    r2 = score_submission(ScoreConfig(subs["gt"], small_split, results, metrics=["psnr", "ssim"]))
    assert r2.scored == 0 and r2.already == 3
    lb = build_leaderboard(results, tmp_path / "site")
    cells = dict(zip(CSV_COLUMNS, _csv(tmp_path / "site").splitlines()[1].split(",")))
    assert all(cells[c] != "" for c in CSV_COLUMNS if c != "dsc_ctx" and c != "dsc_gt")
    assert lb.groups[0].rows[0].status["lpips"][0] == "computed"


def test_resume_after_limit_and_after_sigkill_gives_the_same_table(small_split, subs, tmp_path):
    # Same file name in every folder: the page names its results store.
    ref = tmp_path / "ref" / "results.sqlite"
    score_submission(ScoreConfig(subs["noise8"], small_split, ref, metrics=["psnr", "ssim"]))
    build_leaderboard(ref, tmp_path / "ref-site")

    # Stopped after one clip (limit), then resumed: only the missing clips are computed.
    part = tmp_path / "part.sqlite"
    r1 = score_submission(ScoreConfig(subs["noise8"], small_split, part, metrics=["psnr", "ssim"], limit=1))
    assert (r1.scored, r1.remaining) == (1, 2)
    r2 = score_submission(ScoreConfig(subs["noise8"], small_split, part, metrics=["psnr", "ssim"]))
    assert (r2.scored, r2.already) == (2, 1)
    r3 = score_submission(ScoreConfig(subs["noise8"], small_split, part, metrics=["psnr", "ssim"]))
    assert (r3.scored, r3.already) == (0, 3)
    assert score_rows(part) == score_rows(ref)

    # A real SIGKILL while a clip is being scored: each clip is in the store completely or not at all.
    killed = tmp_path / "killed" / "results.sqlite"
    killed.parent.mkdir()
    proc = subprocess.Popen([*HMWORLD, "score", f"submission={subs['noise8']}", f"split={small_split}",
                             f"results={killed}", "metrics=[psnr,ssim]", "progress=false"],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 120
    done = 0
    while time.monotonic() < deadline and proc.poll() is None:
        try:
            with sqlite3.connect(killed, timeout=5) as db:
                done = db.execute("SELECT COUNT(DISTINCT clip_id) FROM scores").fetchone()[0]
        except sqlite3.OperationalError:
            done = 0
        if done >= 1:
            break
        time.sleep(0.02)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    with sqlite3.connect(killed) as db:
        assert db.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
        per_clip = [n for (n,) in db.execute("SELECT COUNT(*) FROM scores GROUP BY clip_id")]
    assert all(n == 2 for n in per_clip) and 1 <= len(per_clip) <= 3
    if proc.returncode == -signal.SIGKILL:          # killed while running (not after finishing on its own)
        assert len(per_clip) < 3
    r = score_submission(ScoreConfig(subs["noise8"], small_split, killed, metrics=["psnr", "ssim"]))
    assert r.scored == 3 - len(per_clip) and r.already == len(per_clip)
    assert score_rows(killed) == score_rows(ref)
    build_leaderboard(killed, tmp_path / "killed-site")
    for name in ("leaderboard.csv", "leaderboard.md", "index.html"):
        assert (tmp_path / "killed-site" / name).read_bytes() == (tmp_path / "ref-site" / name).read_bytes()


def test_shards_and_merge_give_the_same_table(small_split, subs, tmp_path):
    ref = tmp_path / "ref" / "results.sqlite"
    for s in ("gt", "noise32"):
        score_submission(ScoreConfig(subs[s], small_split, ref, metrics=["psnr"]))
    build_leaderboard(ref, tmp_path / "ref-site")
    shards = [tmp_path / f"shard{i}.sqlite" for i in range(2)]
    for s in ("gt", "noise32"):
        for i, store in enumerate(shards):
            r = score_submission(ScoreConfig(subs[s], small_split, store, metrics=["psnr"], shard=i, num_shards=2))
            assert r.clips_in_shard == (2 if i == 0 else 1)
    # a lone shard is a partial submission: not ranked, counted as unfinished
    lone = build_leaderboard(shards[1], tmp_path / "lone")
    assert all(s.rank is None and s.clips == 1 for s in lone.groups[0].rows)
    assert "1 of 3 clips scored so far" in (tmp_path / "lone" / "leaderboard.md").read_text()

    merged = tmp_path / "merged" / "results.sqlite"
    merged.parent.mkdir()
    proc = run_cli("score-merge", f"inputs=[{shards[0]},{shards[1]}]", f"results={merged}")
    assert "rows added" in proc.stdout
    again = merge_stores(shards, merged)                      # merging twice adds nothing
    assert again.added["scores"] == 0 and again.skipped["scores"] == 6
    assert score_rows(merged) == score_rows(ref)
    build_leaderboard(merged, tmp_path / "merged-site")
    for name in ("leaderboard.csv", "leaderboard.md", "index.html"):
        assert (tmp_path / "merged-site" / name).read_bytes() == (tmp_path / "ref-site" / name).read_bytes()

    # A conflicting row (the same clip scored differently) refuses the merge and writes nothing.
    with sqlite3.connect(shards[1]) as db:
        db.execute("UPDATE scores SET value = value + 1 WHERE metric = 'psnr'")
    fresh = tmp_path / "fresh.sqlite"
    merge_stores([shards[0]], fresh)
    before = score_rows(fresh)
    with pytest.raises(BenchmarkError, match="conflicting row"):
        merge_stores([shards[0], merged, shards[1]], fresh)
    assert score_rows(fresh) == before


def test_workers_give_identical_numbers(small_split, subs, tmp_path):
    one, two = tmp_path / "one.sqlite", tmp_path / "two.sqlite"
    score_submission(ScoreConfig(subs["noise32"], small_split, one, metrics=["psnr"]))
    r = score_submission(ScoreConfig(subs["noise32"], small_split, two, metrics=["psnr"], workers=2))
    assert r.scored == 3
    assert score_rows(one) == score_rows(two)
