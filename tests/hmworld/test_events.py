import numpy as np
import pytest

from tests.testlib import render_config
from hmworld.compositor import CompositionContext, Rejection, compose
from hmworld.events import (REASONS, EventRules, PrefilterBatch, events_from_visibility, exit_entry, find_events,
                            predicted_visibility, prefilter, visible_intervals)

# rules that only ask for the bare definition: any gap, any size, nothing required at the start
BARE = EventRules(min_visible_pixels=10, visible_at_start=0, min_event_height=0.0, size_window=1,
                  hidden_gap=(1, 1000))


def _v(s: str) -> np.ndarray:
    return np.array([c == "1" for c in s])


@pytest.mark.parametrize("seq,context,expected", [
    ("1100011", 4, {"exit_frame": 2, "entry_frame": 5}),
    ("1110000111", 5, {"exit_frame": 3, "entry_frame": 7}),
    ("1111000111", 5, {"exit_frame": 4, "entry_frame": 7}),  # exit at the last context frame
    ("1111000111", 4, None),  # exit at the first target frame is not a context-half exit
    ("1110011111", 5, {"exit_frame": 3, "entry_frame": 5}),  # entry exactly at the first target frame
    ("1111100111", 4, None),  # exit in the target half
    ("1001110000", 3, {"exit_frame": 1, "entry_frame": 3}),
    ("1001110000", 7, None),  # leaves late in the context half and never comes back
    ("0000001111", 5, None),  # never visible in the context
    ("1100000000", 4, None),  # never re-enters
    ("1111111111", 5, None),
])
def test_exit_entry_definition(seq, context, expected):
    assert exit_entry(_v(seq), context) == expected
    v = _v(seq)[None, None]
    assert bool(find_events(v, v.astype(float), context, BARE)[3][0] == 0) == (expected is not None)


def test_visible_intervals_are_half_open_runs():
    assert visible_intervals(_v("0110111")) == [[1, 3], [4, 7]]
    assert visible_intervals(_v("000")) == []


def test_find_events_matches_the_definition_under_bare_rules():
    rng = np.random.default_rng(0)
    for c in (3, 5, 9):
        vis = rng.random((300, 14)) < 0.5
        exit_, entry, reason, _ = find_events(vis, vis.astype(float), c, BARE)
        for v, e, n, r in zip(vis, exit_, entry, reason):
            slow = exit_entry(v, c)
            assert (r == 0) == (slow is not None)
            if slow:
                assert slow == {"exit_frame": int(e), "entry_frame": int(n)}


def _rules(**kw):
    return EventRules(**{**BARE.__dict__, **kw})


@pytest.mark.parametrize("seq,heights,rules,reason", [
    ("11000111", None, _rules(), 0),
    ("11000111", None, _rules(hidden_gap=(4, 10)), 4),  # gap 3 < 4
    ("11000111", None, _rules(hidden_gap=(1, 2)), 4),  # gap 3 > 2
    ("10000001", None, _rules(hidden_gap=(1, 5)), 4),
    ("11000111", "0.5 0.1 0 0 0 0.5 0.5 0.5", _rules(min_event_height=0.3, size_window=2), 0),
    ("11000111", "0.5 0.1 0 0 0 0.5 0.5 0.5", _rules(min_event_height=0.3, size_window=1), 5),  # small just before
    ("11000111", "0.5 0.5 0 0 0 0.1 0.9 0.9", _rules(min_event_height=0.3, size_window=1), 5),  # small on entry
    ("11000111", "0.5 0.5 0 0 0 0.1 0.9 0.9", _rules(min_event_height=0.3, size_window=2), 0),
    ("01000111", None, _rules(visible_at_start=1), 1),  # not seen in the first frame
    ("11000111", None, _rules(visible_at_start=2), 0),
    ("11110111", None, _rules(), 2),  # visible at the last context frame: no exit
    ("11000000", None, _rules(), 3),
])
def test_event_rules(seq, heights, rules, reason):
    v = _v(seq)
    h = np.array([float(x) for x in heights.split()]) if heights else v.astype(float)
    _, _, subject_reason, clip_reason = find_events(v[None, None], h[None, None], 4, rules)
    assert int(clip_reason[0]) == reason, REASONS.get(reason)


def test_clip_needs_every_subject_seen_at_start_and_reports_its_best_subject():
    vis = np.stack([_v("11000111"), _v("00011111")])  # subject 2 is seen only later
    h = vis.astype(float)
    _, _, per_subject, clip = find_events(vis, h, 4, _rules(visible_at_start=1))
    assert per_subject.tolist()[0] == 0 and clip == 1
    present = np.array([True, False])  # padding never counts against a clip
    assert find_events(vis, h, 4, _rules(visible_at_start=1), present)[3] == 0
    vis = np.stack([_v("11110111"), _v("11000000")])  # no exit, and an exit without re-entry
    assert find_events(vis, vis.astype(float), 4, _rules())[3] == 3


def test_events_json_shape():
    vis = np.stack([_v("1100011"), _v("0000000")], axis=1)
    ev = events_from_visibility(vis, vis.astype(float), [1, 2], 4, BARE).file.to_json()
    assert ev["version"] == 2 and ev["rules"]["hidden_gap"] == [1, 1000]
    assert ev["context_frames"] == 4 and ev["target_frames"] == 3 and ev["min_visible_pixels"] == 10
    assert ev["subjects"][0] == {"instance_id": 1, "visible_intervals": [[0, 2], [5, 7]],
                                 "events": [{"exit_frame": 2, "entry_frame": 5}]}
    assert ev["subjects"][1]["events"] == [] and ev["subjects"][1]["visible_intervals"] == []


def test_prefilter_is_vectorised_and_consistent_per_clip(catalog):
    ctx = CompositionContext.from_config(catalog, render_config("out=x", "seed=3", "video.width=160",
                                                                "video.height=96"))
    specs = [s for s in (compose(ctx, i, 0) for i in range(24)) if not isinstance(s, Rejection)]
    batch = PrefilterBatch.from_specs(specs, catalog.scenes, catalog.subjects)
    rules = ctx.rules
    ok, reason = prefilter(batch, 77, 160, 96, rules, chunk=5)
    one_by_one = [prefilter(PrefilterBatch.from_specs([s], catalog.scenes, catalog.subjects), 77, 160, 96, rules)[0][0]
                  for s in specs]
    np.testing.assert_array_equal(ok, one_by_one)
    assert 0 < ok.sum() < len(ok)  # some candidates fail the rules (e.g. a subject hidden by a prop at the start)
    assert set(reason[ok].tolist()) == {0} and 0 not in set(reason[~ok].tolist())


def test_prefilter_sees_a_subject_in_front_and_not_behind(catalog):
    ctx = CompositionContext.from_config(catalog, render_config("out=x", "video.width=160", "video.height=96"))
    spec = next(s for s in (compose(ctx, i, 0) for i in range(10)) if not isinstance(s, Rejection))
    batch = PrefilterBatch.from_specs([spec], catalog.scenes, catalog.subjects)
    visible, height = predicted_visibility(batch, 160, 96, 15)
    assert visible[0, 0, 0] and height[0, 0, 0] > 0.5  # the camera starts framed on subject 1, large
    batch.c2w[..., :3, :3] = batch.c2w[..., :3, :3] @ np.diag([-1.0, 1.0, -1.0])  # turn round
    visible, height = predicted_visibility(batch, 160, 96, 15, occluders=False)
    assert not visible[0, 0, 0] and height[0, 0, 0] == 0
