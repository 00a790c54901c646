"""Masked re-entry metrics (metrics/masked.py) on known synthetic clips: analytic values, regions, re-entry frames,
gap grouping, the SSIM map against whole-frame SSIM, and the point of it all: recolouring only the returning subject
lowers the subject metric by far more than whole-frame PSNR."""
from __future__ import annotations

import numpy as np
import pytest

from hmworld.metrics import MetricInputError, psnr, ssim
from hmworld.metrics.masked import (EventScore, box_mask, by_gap, mask_box, reentry_events, reentry_scores,
                                    region_psnr, region_ssim, ssim_map)

C, T, H, W = 8, 8, 48, 64  # context frames, target frames, frame size


def _texture(n, seed=0):
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0:H, 0:W] / 6.0
    base = np.stack([np.sin(xx + k) * np.cos(yy - k) for k in range(3)], -1) * 60 + 120
    return np.clip(base[None] + rng.normal(0, 10, (n, H, W, 3)), 0, 255).astype(np.uint8)


def _clip():
    """A subject (id 1, 6x8 px) visible in frames 0-3, hidden 4-10, back from 11 to the end (entry in the target half
    at clip frame 11 = target frame 3); a second subject (id 2) always visible, never leaving."""
    video = _texture(C + T)
    inst = np.zeros((C + T, H, W), np.uint8)
    for f in list(range(0, 4)) + list(range(11, C + T)):
        x0 = 4 + 3 * f
        inst[f, 20:26, x0:x0 + 8] = 1
        video[f, 20:26, x0:x0 + 8] = (200, 40, 40)
    inst[:, 5:12, 50:58] = 2
    video[:, 5:12, 50:58] = (30, 200, 30)
    events = {"context_frames": C, "target_frames": T,
              "subjects": [{"instance_id": 1, "visible_intervals": [[0, 4], [11, C + T]],
                            "events": [{"exit_frame": 4, "entry_frame": 11}]},
                           {"instance_id": 2, "visible_intervals": [[0, C + T]], "events": []}]}
    subjects = {"subjects": [{"instance_id": 1, "frames": [
        {"visible_box": mask_box(inst[f] == 1)} for f in range(C + T)]}]}
    return video, inst, events, subjects


def test_region_psnr_is_analytic_and_ignores_pixels_outside():
    target = _texture(2)
    pred = target.copy()
    mask = np.zeros((2, H, W), bool)
    mask[:, 10:20, 10:30] = True
    region = pred[:, 10:20, 10:30].astype(int)
    pred[:, 10:20, 10:30] = np.where(region > 127, region - 5, region + 5)  # error exactly 5 levels inside
    pred[:, 30:, :] = 0  # large errors outside the mask: no effect
    np.testing.assert_allclose(region_psnr(pred, target, mask), 20 * np.log10(255 / 5), atol=1e-9)
    mask[1] = False
    assert np.isnan(region_psnr(pred, target, mask)[1])
    assert region_psnr(target, target, np.ones((2, H, W), bool)).tolist() == [100.0, 100.0]


def test_ssim_map_interior_is_the_whole_frame_ssim_map():
    target = _texture(3, seed=1)
    pred = np.clip(target.astype(int) + np.random.default_rng(2).normal(0, 20, target.shape), 0, 255).astype(np.uint8)
    smap = ssim_map(pred, target)
    assert smap.shape == (3, H, W)
    # whole-frame SSIM averages the map over the valid region = pixels 5 px from every edge
    assert abs(smap[:, 5:-5, 5:-5].mean() - ssim(pred, target).value) < 1e-6
    assert np.allclose(ssim_map(target, target), 1.0, atol=1e-6)
    m = np.zeros((3, H, W), bool)
    m[:, :4, :4] = True  # a corner (where re-entries happen) is scored, not cropped away
    assert np.isfinite(region_ssim(pred, target, m)).all()


def test_reentry_frames_follow_entry_and_visibility():
    video, inst, events, _ = _clip()
    (ev,) = reentry_events(events, inst, C)
    assert (ev.instance_id, ev.exit_frame, ev.entry_frame, ev.gap_frames) == (1, 4, 11, 7)
    assert ev.frames == tuple(range(11, C + T))
    # visible_intervals say the subject is gone again on 13-14: those frames are not scored
    events["subjects"][0]["visible_intervals"] = [[0, 4], [11, 13], [15, C + T]]
    assert reentry_events(events, inst, C)[0].frames == (11, 12, 15)
    # without intervals (null): frames where its mask shows
    events["subjects"][0]["visible_intervals"] = None
    assert reentry_events(events, inst, C)[0].frames == tuple(range(11, C + T))


def test_recolouring_the_subject_drops_the_subject_metric_far_more_than_whole_frame_psnr():
    video, inst, events, subjects = _clip()
    target = video[C:]
    rng = np.random.default_rng(3)
    # a model at the whole-frame PSNR real ones reach here (~26 dB: error of std 12 levels everywhere)
    base = np.clip(np.round(target + rng.normal(0, 12, target.shape)), 0, 255).astype(np.uint8)
    recol = base.copy()
    m = inst[C:] == 1
    recol[m] = (40, 40, 200)  # same subject, same place, wrong colour: memory failed
    a = reentry_scores(base, target, inst, events, subjects, C)
    b = reentry_scores(recol, target, inst, events, subjects, C)
    frames = [f - C for f in reentry_events(events, inst, C)[0].frames]
    drop_whole = psnr(base[frames], target[frames]).value - psnr(recol[frames], target[frames]).value
    drop_subject = a.values["subject_psnr"] - b.values["subject_psnr"]
    assert 24 < psnr(base[frames], target[frames]).value < 28
    assert drop_subject > 10 and drop_subject > 3 * drop_whole, (drop_subject, drop_whole)
    assert a.values["frame_psnr"] == pytest.approx(psnr(base[frames], target[frames]).value)
    assert b.values["subject_ssim"] < a.values["subject_ssim"] - 0.3
    assert b.values["box_psnr"] < a.values["box_psnr"] - 10
    # the background (outside every subject) did not change
    assert b.values["background_psnr"] == a.values["background_psnr"]
    (e,) = b.events
    assert isinstance(e, EventScore) and e.gap_frames == 7 and e.frames == len(frames)
    assert e.psnr["subject"] == pytest.approx(b.values["subject_psnr"])


def test_background_excludes_every_subject_and_box_rounds_outwards():
    video, inst, events, subjects = _clip()
    target = video[C:]
    pred = target.copy()
    pred[inst[C:] == 2] = 0  # only the never-leaving subject is wrong: no re-entry metric may move but the frame's
    s = reentry_scores(pred, target, inst, events, subjects, C)
    assert s.values["subject_psnr"] == 100.0 and s.values["background_psnr"] == 100.0
    assert s.values["frame_psnr"] < 40
    m = box_mask([2.5, 1.2, 6.1, 3.0], 8, 10)
    assert np.argwhere(m).min(0).tolist() == [1, 2] and np.argwhere(m).max(0).tolist() == [2, 6]
    assert not box_mask([-5, -5, -1, -1], 8, 10).any()


def test_no_event_and_bad_input():
    video, inst, events, subjects = _clip()
    none = {"context_frames": C, "target_frames": T, "subjects": []}
    s = reentry_scores(video[C:], video[C:], inst, none, subjects, C)
    assert s.values["subject_psnr"] is None and s.values["frames"] == 0 and s.events == []
    with pytest.raises(MetricInputError, match="instances: expected shape"):
        reentry_scores(video[C:], video[C:], inst[C:], events, subjects, C)
    bad = {**none, "subjects": [{"instance_id": 1, "visible_intervals": None,
                                 "events": [{"exit_frame": 2, "entry_frame": 5}]}]}
    with pytest.raises(MetricInputError, match="context half"):
        reentry_scores(video[C:], video[C:], inst, bad, subjects, C)


def test_by_gap_groups_events():
    mk = lambda gap, v: EventScore(1, 10, 10 + gap, gap, 3, {"subject": v}, {"subject": None})  # noqa: E731
    rows = by_gap([mk(3, 20.0), mk(5, 30.0), mk(40, 10.0), mk(41, None)], edges=(0, 8, 32, 64))
    assert rows == [{"gap_from": 0, "gap_to": 8, "events": 2, "mean": 25.0},
                    {"gap_from": 8, "gap_to": 32, "events": 0, "mean": None},
                    {"gap_from": 32, "gap_to": 64, "events": 1, "mean": 10.0}]


# ------------------------------------------------------------------------------------------------ a rendered clip
@pytest.fixture(scope="module")
def rendered_clip(tiny_split):
    """The first clip of the shared tiny split (whatever the compositor draws: the assertions below hold for any
    content)."""
    from hmworld.split import Split

    return Split(tiny_split)[0]


def test_rendered_clip_exact_values_when_only_the_returning_subject_is_wrong(rendered_clip):
    clip = rendered_clip
    inst, target, cf = clip.instances(), clip.target(), clip.context_frames
    evs = reentry_events(clip.events_file, inst, cf)
    assert evs and evs[0].frames  # a split keeps only clips with an exit-entry event
    e = evs[0]
    perfect = reentry_scores(target, target, inst, clip.events_file, clip.subjects_file, cf)
    assert perfect.values["subject_psnr"] == 100.0 and perfect.values["frame_ssim"] == pytest.approx(1.0)
    pred = target.copy()
    rows = [f - cf for f in e.frames]
    m = np.zeros(target.shape[:3], bool)
    m[rows] = inst[list(e.frames)] == e.instance_id
    pred[m] = (target[m].astype(int) + 128) % 256  # every value of the subject off by exactly 128 levels
    s = reentry_scores(pred, target, inst, clip.events_file, clip.subjects_file, cf)
    first = next(x for x in s.events if (x.instance_id, x.entry_frame) == (e.instance_id, e.entry_frame))
    assert first.psnr["subject"] == pytest.approx(20 * np.log10(255 / 128), abs=1e-9)
    assert first.gap_frames == e.entry_frame - e.exit_frame and first.frames == len(e.frames)
    assert s.values["background_psnr"] == 100.0
    # whole-frame PSNR of the same frames is higher by exactly 10 log10(frame pixels / subject pixels) per frame
    whole = region_psnr(pred[rows], target[rows], np.ones((len(rows), *target.shape[1:3]), bool))
    n = m[rows].reshape(len(rows), -1).sum(axis=1)
    np.testing.assert_allclose(whole, np.minimum(100, 20 * np.log10(255 / 128) + 10 * np.log10(m[0].size / n)),
                               atol=1e-9)


def test_score_clip_masked_group_and_not_applicable_without_masks():
    """The scorer's `masked` group: the same numbers as reentry_scores under the registry's column names, the
    per-event records with their hidden gap; without instance masks every value is None (n/a), never an error."""
    from hmworld.metrics import ALL_METRICS, aggregate, score_clip
    from hmworld.metrics.registry import GROUP, MASKED_REGIONS

    video, inst, events, subjects = _clip()
    target = video[C:]
    pred = np.clip(target.astype(int) + np.random.default_rng(5).normal(0, 10, target.shape), 0, 255).astype(np.uint8)
    assert "masked" in ALL_METRICS and not GROUP["masked"].weights and GROUP["masked"].needs_masks
    s = score_clip(pred, target, video[:C], metrics=["psnr", "masked"], events=events, subjects=subjects,
                   instances=inst)
    want = reentry_scores(pred, target, inst, events, subjects, C)
    for region, prefix in MASKED_REGIONS.items():
        for m in ("psnr", "ssim"):
            assert s.values[f"{prefix}_{m}"] == want.values[f"{region}_{m}"]
    assert set(s.values) == {"psnr", *GROUP["masked"].columns}
    assert s.details["masked_applicable"] is True and s.details["masked_events"] == 1
    (ev,) = s.details["masked_events_list"]
    assert (ev["exit_frame"], ev["entry_frame"], ev["gap_frames"]) == (4, 11, 7)
    assert ev["values"]["subject_psnr"] == want.events[0].psnr["subject"]
    assert "masked" in s.conventions and s.convention_version == "3"

    n = score_clip(pred, target, video[:C], metrics=["psnr", "masked"], events=events, subjects=subjects)
    assert n.values["psnr"] == s.values["psnr"]
    assert all(n.values[k] is None for k in GROUP["masked"].columns)
    assert n.details["masked_applicable"] is False and n.details["masked_reason"] == "no instance masks"
    agg = aggregate([s, n])           # the clip without masks is left out of the masked figures
    assert agg["subject_psnr"] == s.values["subject_psnr"] and agg["psnr"] == pytest.approx(s.values["psnr"])
    with pytest.raises(MetricInputError, match="instances"):
        score_clip(pred, target, metrics=["masked"], events=events, subjects=subjects, instances=inst[:, :10])


def test_every_metric_list_derives_from_the_registry():
    """Scorer, scoring run, leaderboard and page take their metric facts from metrics/registry.py (issue 15)."""
    from hmworld.benchmark import leaderboard as L
    from hmworld.benchmark import page as P
    from hmworld.benchmark import scoring as S
    from hmworld.benchmark.reported import REPORTED, REPORTED_COLUMNS
    from hmworld.metrics import ALL_METRICS
    from hmworld.metrics import scorer as M
    from hmworld.metrics.registry import COLUMNS, GROUPS

    assert ALL_METRICS == S.METRIC_GROUPS == L.GROUP_ORDER == tuple(g.name for g in GROUPS)
    assert M.VALUE_KEYS == S.VALUE_KEYS and set(S.LEARNED) == {g.name for g in GROUPS if g.weights}
    assert set(L.VALUE_COLUMNS) == {c.key for c in COLUMNS} and set(L.CSV_COLUMNS) > set(L.VALUE_COLUMNS)
    assert L.LOWER_IS_BETTER == {"lpips", "dsc_miss_rate"}
    assert all(L.LABELS[c.key] == c.label and L.GROUP_OF[c.key] == c.group for c in COLUMNS)
    assert set(P.TABLE_COLUMNS) - {"clips"} == {c.key for c in COLUMNS if c.board}
    assert REPORTED_COLUMNS[2:-1] == L.PAPER_COLUMNS and all(set(L.PAPER_COLUMNS) <= set(r) for r in REPORTED)
