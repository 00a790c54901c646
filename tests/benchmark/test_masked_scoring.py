"""The masked re-entry metrics end to end on the real rendered small split: scorer -> store (events table) ->
leaderboard (CSV, Markdown, page with the metric-vs-hidden-gap plot). Known cases: recolouring only the returning
subject (from the ground truth's instance masks) costs the subject metric far more than whole-frame PSNR; a split
whose clips have no masks (as imported from the official release) shows n/a, never an error."""
import json
import re
import shutil
import sqlite3

import numpy as np
import pandas as pd
import pytest

from hmworld.benchmark import (CSV_COLUMNS, BenchmarkError, ResultsStore, build_leaderboard, merge_stores,
                               score_submission)
from hmworld.benchmark.scoring import ScoreConfig, manifest_fingerprint
from hmworld.benchmark.leaderboard import METRIC_COLUMNS
from hmworld.benchmark.store import SCHEMA_VERSION
from hmworld.metrics import decode_video
from hmworld.metrics.masked import reentry_scores
from hmworld.metrics.registry import COLUMN, GROUP
from hmworld.split import Split
from tests.benchmark.testlib import Chromium, chromium_binary, gt_copy, make_submission, noisy
from tests.testlib import run_cli

MASKED = list(GROUP["masked"].columns)
EVIL = "<img src=x onerror=alert(1)>&\"'"


# A model somewhere between the floors (~20 dB) and the ground truth: the ground truth with noise (about 29 dB after
# encoding). Measured from a near-lossless copy instead, any change costs many dB on the log scale.
MODEL = noisy(12)


def recolour_subject(clip) -> np.ndarray:
    """MODEL's prediction with every returning subject inverted in colour from its entry frame on, only inside its
    ground-truth instance mask; every other pixel is MODEL's."""
    t = MODEL(clip).copy()
    inst = clip.instances()
    c = clip.context_frames
    for iid, ev in clip.events_file.events():
        for f in range(ev.entry_frame, c + clip.target_frames):
            m = inst[f] == iid
            t[f - c][m] = 255 - t[f - c][m]
    return t


@pytest.fixture(scope="module")
def masked_subs(small_split, tmp_path_factory):
    d = tmp_path_factory.mktemp("masked-subs")
    return {"gt": make_submission(small_split, d / "gt", gt_copy, "gt-copy"),
            "model": make_submission(small_split, d / "model", MODEL, "noise-12"),
            "recolour": make_submission(small_split, d / "recolour", recolour_subject, EVIL)}


@pytest.fixture(scope="module")
def scored(small_split, masked_subs, tmp_path_factory):
    d = tmp_path_factory.mktemp("masked-scored")
    results = d / "results.sqlite"
    reports = {k: score_submission(ScoreConfig(s, small_split, results, metrics=["psnr", "masked"]))
               for k, s in masked_subs.items()}
    return results, reports


def test_recolouring_only_the_subject_costs_the_subject_metric_far_more(scored):
    _, r = scored
    gt, rec = r["model"].aggregate, r["recolour"].aggregate
    drop = {k: gt[k] - rec[k] for k in ("psnr", "reentry_psnr", "subject_psnr", "box_psnr", "background_psnr")}
    print("drops (dB):", {k: round(v, 2) for k, v in drop.items()}, "model:", {k: round(gt[k], 2) for k in drop},
          "SSIM subject", round(gt["subject_ssim"], 3), "->", round(rec["subject_ssim"], 3))
    # In dB a drop compares error energies: the whole frame dilutes the subject's error by the subject's share of the
    # pixels, so the subject metric's drop exceeds the whole-frame drop by about 10 log10(1 / share). Subjects of this
    # 160x96 split (realistic default) cover ~20 % of the re-entry frames: measured -27.1 dB on the subject, -20.4 on
    # the re-entry frames, -17.1 on the whole target half (primitive bodies, ~14 %: -22.4 vs -10.3); a few-pixel
    # subject hides in the frame (the synthetic case in tests/metrics/test_masked.py: subject -21.0 dB, frame -4.5).
    assert drop["subject_psnr"] > 10                             # the subject is gone in colour
    assert drop["subject_psnr"] > drop["psnr"] + 6               # >= 4x the whole-frame error energy
    assert drop["subject_psnr"] > drop["reentry_psnr"] + 3       # >= 2x, also against the re-entry frames alone
    assert drop["subject_psnr"] > drop["box_psnr"] > drop["reentry_psnr"]
    assert abs(drop["background_psnr"]) < 0.5                # the background is the model's
    ssim_drop = {k: gt[k] - rec[k] for k in ("subject_ssim", "reentry_ssim", "background_ssim")}
    # SSIM's 7x7 windows straddle the subject's edges, so the frame sees more than the subject's share (measured:
    # subject -0.96, re-entry frames -0.30)
    assert ssim_drop["subject_ssim"] > 0.5 and ssim_drop["subject_ssim"] > 2.5 * ssim_drop["reentry_ssim"]
    # ... and the background's windows next to the subject see some of it (measured -0.07)
    assert abs(ssim_drop["background_ssim"]) < 0.1 and ssim_drop["background_ssim"] < ssim_drop["subject_ssim"] / 8


def test_store_events_equal_the_metric_on_the_decoded_videos(small_split, masked_subs, scored):
    results, r = scored
    split = Split(small_split)
    key = (r["recolour"].submission_id, r["recolour"].split_fingerprint, r["recolour"].convention_version)
    with ResultsStore(results, create=False) as store:
        rows = store.event_rows(key)
        scores = {(x["clip_id"], x["metric"]): x["value"] for x in store.score_rows(key)}
    assert {x["metric"] for x in rows} == set(MASKED)
    n_events = 0
    for clip in split:
        pred = decode_video(masked_subs["recolour"] / f"{clip.clip_id}.mp4")
        target = decode_video(clip.video_path)[clip.context_frames:]
        want = reentry_scores(pred, target, clip.instances(), clip.events_file, clip.subjects_file,
                              clip.context_frames)
        assert scores[(clip.clip_id, "subject_psnr")] == pytest.approx(want.values["subject_psnr"], abs=1e-9)
        assert scores[(clip.clip_id, "reentry_ssim")] == pytest.approx(want.values["frame_ssim"], abs=1e-9)
        for i, e in enumerate(want.events):
            got = {x["metric"]: x for x in rows if x["clip_id"] == clip.clip_id and x["event"] == i}
            assert got["subject_psnr"]["value"] == pytest.approx(e.psnr["subject"], abs=1e-9)
            assert got["background_ssim"]["value"] == pytest.approx(e.ssim["background"], abs=1e-9)
            assert (got["subject_psnr"]["gap_frames"], got["subject_psnr"]["entry_frame"]) == (
                e.gap_frames, e.entry_frame) and e.gap_frames == e.entry_frame - e.exit_frame > 0
            n_events += 1
        assert len({x["event"] for x in rows if x["clip_id"] == clip.clip_id}) == len(want.events)
    assert n_events >= 3


def test_leaderboard_columns_direction_and_gap_plot(scored, tmp_path):
    results, r = scored
    lb = build_leaderboard(results, tmp_path / "site", rank_by="subject_psnr")
    rows = lb.groups[0].rows
    # higher subject PSNR ranks first: the ground truth, the noisy model, then the recoloured one
    assert [s.model for s in rows] == ["gt-copy", "noise-12", rows[2].model] and rows[2].model.startswith("<img")
    assert rows[0].values["subject_psnr"] > rows[1].values["subject_psnr"] > rows[2].values["subject_psnr"]
    lines = (tmp_path / "site" / "leaderboard.csv").read_text().splitlines()
    header = lines[0].split(",")
    assert tuple(header) == CSV_COLUMNS and all(c in header for c in MASKED)
    assert header.index("subject_psnr") < header.index("clips") < header.index("dsc_miss_rate")
    cells = dict(zip(header, lines[1].split(",")))
    assert float(cells["subject_psnr"]) == pytest.approx(r["gt"].aggregate["subject_psnr"], abs=1e-5)
    md = (tmp_path / "site" / "leaderboard.md").read_text()
    assert "Subject PSNR ↑" in md and "BG SSIM ↑" in md
    assert "\\<img" in md and re.search(r"(?<!\\)<img", md) is None        # escaped in Markdown
    html = (tmp_path / "site" / "index.html").read_text()
    assert "<img src=x" not in html and "&lt;img src=x onerror=alert(1)&gt;" in html
    for c in ("subject_psnr", "subject_ssim", "background_psnr", "background_ssim"):
        assert f'data-col="{c}" data-type="num" data-first="descending"' in html      # better first: higher
    plot = re.search(r'<div class="chart gap" data-gap-metric="subject_psnr">.*?</svg>', html, re.S).group(0)
    n_events = len({(e["clip_id"], e["event"]) for e in rows[0].events})
    assert plot.count("<circle") == 3 * n_events and "hidden gap (frames)" in plot
    # The terminal table has the new columns too.
    out = run_cli("leaderboard", f"results={results}", f"out={tmp_path / 'site2'}", "rank_by=subject_psnr").stdout
    assert "Subject PSNR" in out and "BG SSIM" in out


@pytest.mark.skipif(chromium_binary() is None, reason="needs Debian's chromium (scripts/setup.sh test installs it)")
def test_gap_plot_in_headless_chromium(scored, tmp_path):
    results, _ = scored
    lb = build_leaderboard(results, tmp_path / "site")
    browser = Chromium(tmp_path / "profile")
    try:
        browser.send("Runtime.enable")
        browser.send("Page.navigate", url=lb.page.resolve().as_uri())
        browser.wait_for("document.readyState === 'complete'")
        n = browser.eval("document.querySelectorAll('.chart.gap svg circle').length")
        assert n == 2 * 3 * len({(e["clip_id"], e["event"]) for e in lb.groups[0].rows[0].events})  # 2 plots x 3 subs
        box = browser.eval("(function(){var r=document.querySelector('.chart.gap svg').getBoundingClientRect();"
                           "return [r.width, r.height];})()")
        assert box[0] > 300 and box[1] > 200
        legend = browser.eval("document.querySelector('.chart.gap .legend').textContent")
        assert "gt-copy" in legend and "<img src=x" in legend      # shown as text, never as markup
        assert browser.eval("document.querySelectorAll('.chart.gap img').length") == 0
        errors = [e for e in browser.events if e.get("method") == "Runtime.exceptionThrown"]
        assert errors == []
    finally:
        browser.close()


def _without_masks(split_dir, out, clips=None):
    """A copy of the split whose clips (all, or `clips`) look imported: no instances.npz (nor its manifest entries,
    as the importer writes them), null visible intervals."""
    shutil.copytree(split_dir, out)
    stripped = []
    for clip in Split(out):
        if clips is not None and clip.clip_id not in clips:
            continue
        clip.path("instances_path").unlink()
        stripped.append(clip.clip_id)
        ev = json.loads(clip.path("events_path").read_text())
        for s in ev["subjects"]:
            s["visible_intervals"] = None
        clip.path("events_path").write_text(json.dumps(ev))
    manifest = pd.read_parquet(out / "manifest.parquet")
    rows = manifest["clip_id"].isin(stripped)
    manifest.loc[rows, ["instances_path", "instances_sha256"]] = ""
    manifest.to_parquet(out / "manifest.parquet", index=False)
    info = json.loads((out / "split.json").read_text())   # an imported split's fingerprint covers its own rows
    info["fingerprint"] = manifest_fingerprint(Split(out))
    (out / "split.json").write_text(json.dumps(info))
    return out


def test_clips_without_masks_are_not_applicable(small_split, masked_subs, tmp_path):
    split = _without_masks(small_split, tmp_path / "imported")
    results = tmp_path / "r.sqlite"
    gt = make_submission(split, tmp_path / "gt", gt_copy, "gt-copy")   # the stripped split has its own fingerprint
    r = score_submission(ScoreConfig(gt, split, results, metrics=["psnr", "masked"]))
    assert r.scored == 3 and r.failed == {} and r.aggregate["psnr"] > 30
    assert all(r.aggregate.get(c) is None for c in MASKED)
    lb = build_leaderboard(results, tmp_path / "site")
    s = lb.groups[0].rows[0]
    assert s.not_applicable == set(MASKED) and s.events == [] and s.status["masked"][0] == "computed"
    md = (tmp_path / "site" / "leaderboard.md").read_text()
    row = next(ln for ln in md.splitlines() if ln.startswith("| 1 | gt-copy |"))
    assert row.count("| n/a ") == len(MASKED) and "masked, which needs clips with ground-truth instance masks" in md
    html = (tmp_path / "site" / "index.html").read_text()
    assert html.count('class="na"') >= 4 + 3 * len(MASKED)        # board columns + every clip in the drill-down
    assert 'class="chart gap"' not in html                         # no events, no plot
    cells = dict(zip(CSV_COLUMNS, (tmp_path / "site" / "leaderboard.csv").read_text().splitlines()[1].split(",")))
    assert all(cells[c] == "" for c in MASKED)


def test_one_clip_without_masks_leaves_the_others_scored(small_split, masked_subs, scored, tmp_path):
    first = Split(small_split).clip_ids[0]
    split = _without_masks(small_split, tmp_path / "mixed", clips=[first])
    results = tmp_path / "r.sqlite"
    gt = make_submission(split, tmp_path / "gt", gt_copy, "gt-copy")
    score_submission(ScoreConfig(gt, split, results, metrics=["psnr", "masked"]))
    lb = build_leaderboard(results, tmp_path / "site")
    s = lb.groups[0].rows[0]
    assert s.not_applicable == set()
    per = {c["clip_id"]: c for c in s.per_clip}
    assert per[first]["not_applicable"] == set(MASKED) and per[first]["values"]["subject_psnr"] is None
    others = [c for c in per if c != first]
    assert all(per[c]["values"]["subject_psnr"] is not None for c in others)
    assert s.values["subject_psnr"] == pytest.approx(np.mean([per[c]["values"]["subject_psnr"] for c in others]))
    assert {e["clip_id"] for e in s.events} == set(others)


def test_shards_merge_the_events_and_an_old_store_is_upgraded(small_split, masked_subs, scored, tmp_path):
    results, r = scored
    shards = [tmp_path / f"s{i}.sqlite" for i in range(2)]
    for i, p in enumerate(shards):
        score_submission(ScoreConfig(masked_subs["gt"], small_split, p, metrics=["psnr", "masked"], shard=i,
                                     num_shards=2))
    merged = tmp_path / "merged.sqlite"
    merge_stores(shards, merged)
    key = (r["gt"].submission_id, r["gt"].split_fingerprint, r["gt"].convention_version)
    with ResultsStore(merged, create=False) as a, ResultsStore(results, create=False) as b:
        assert a.event_rows(key) == b.event_rows(key) and a.event_rows(key)

    # A schema-1 store (no events table) opens: upgraded in place, every row kept, the leaderboard builds.
    old = tmp_path / "old.sqlite"
    shutil.copy(shards[0], old)
    with sqlite3.connect(old) as db:
        db.execute("DROP TABLE events")
        db.execute("UPDATE meta SET value='1' WHERE key='schema_version'")
        before = db.execute("SELECT * FROM scores ORDER BY 1,2,3,4,5").fetchall()
    build_leaderboard(old, tmp_path / "old-site")
    with sqlite3.connect(old) as db:
        assert db.execute("SELECT value FROM meta WHERE key='schema_version'").fetchone()[0] == SCHEMA_VERSION == "2"
        assert db.execute("SELECT COUNT(*) FROM events").fetchone()[0] == 0
        assert db.execute("SELECT * FROM scores ORDER BY 1,2,3,4,5").fetchall() == before

    # A store of a later schema is refused, untouched.
    new = tmp_path / "new.sqlite"
    shutil.copy(shards[0], new)
    with sqlite3.connect(new) as db:
        db.execute("UPDATE meta SET value='7' WHERE key='schema_version'")
    data = new.read_bytes()
    with pytest.raises(BenchmarkError, match=r"schema version '7', this toolkit reads 1, 2"):
        build_leaderboard(new, tmp_path / "new-site")
    with pytest.raises(BenchmarkError, match=r"schema version '7'.*left untouched"):
        score_submission(ScoreConfig(masked_subs["gt"], small_split, new, metrics=["psnr"]))
    assert new.read_bytes() == data


def test_masked_runs_by_default_without_weights(tmp_path):
    from hmworld.benchmark import plan_metrics

    empty = tmp_path / "no-weights"
    empty.mkdir()
    plan = plan_metrics(None, str(empty))
    assert plan.compute == ["psnr", "ssim", "masked"]
    assert all(not COLUMN[c].paper and COLUMN[c].higher_is_better for c in MASKED)
    assert set(MASKED) <= set(METRIC_COLUMNS)
