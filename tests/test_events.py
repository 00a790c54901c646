import numpy as np
import pytest

from render_testlib import render_config
from hmworld.compositor import CompositionContext, Rejection, compose
from hmworld.events import (PrefilterBatch, events_from_visibility, exit_entry, has_event, predicted_visibility,
                            prefilter, visible_intervals)


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
    assert bool(has_event(_v(seq)[None], context)[0]) == (expected is not None)


def test_vectorised_event_test_matches_the_definition():
    rng = np.random.default_rng(0)
    vis = rng.random((500, 12)) < 0.5
    for c in (1, 5, 11):
        fast = has_event(vis, c)
        slow = np.array([exit_entry(v, c) is not None for v in vis])
        np.testing.assert_array_equal(fast, slow)


def test_visible_intervals_are_half_open_runs():
    assert visible_intervals(_v("0110111")) == [[1, 3], [4, 7]]
    assert visible_intervals(_v("000")) == []


def test_events_json_shape():
    vis = np.stack([_v("1100011"), _v("0000000")], axis=1)
    ev = events_from_visibility(vis, [1, 2], 4, 10).to_dict()
    assert ev["context_frames"] == 4 and ev["target_frames"] == 3 and ev["min_visible_pixels"] == 10
    assert ev["subjects"][0] == {"instance_id": 1, "visible_intervals": [[0, 2], [5, 7]],
                                 "events": [{"exit_frame": 2, "entry_frame": 5}]}
    assert ev["subjects"][1]["events"] == [] and ev["subjects"][1]["visible_intervals"] == []


def test_prefilter_is_vectorised_and_consistent_per_clip(catalog):
    ctx = CompositionContext.from_config(catalog, render_config("out=x", "seed=3", "video.width=160",
                                                                "video.height=96"))
    specs = [s for s in (compose(ctx, i, 0) for i in range(24)) if not isinstance(s, Rejection)]
    batch = PrefilterBatch.from_specs(specs, catalog.scenes, catalog.subjects)
    ok, reason = prefilter(batch, 77, 160, 96, 15)
    one_by_one = [prefilter(PrefilterBatch.from_specs([s], catalog.scenes, catalog.subjects), 77, 160, 96, 15)[0][0]
                  for s in specs]
    np.testing.assert_array_equal(ok, one_by_one)
    assert 0 < ok.sum() < len(ok)  # the mix of camera trajectories gives both outcomes
    assert set(reason[ok].tolist()) == {0} and 0 not in set(reason[~ok].tolist())


def test_prefilter_sees_a_subject_in_front_and_not_behind(catalog):
    ctx = CompositionContext.from_config(catalog, render_config("out=x", "video.width=160", "video.height=96"))
    spec = next(s for s in (compose(ctx, i, 0) for i in range(10)) if not isinstance(s, Rejection))
    batch = PrefilterBatch.from_specs([spec], catalog.scenes, catalog.subjects)
    assert predicted_visibility(batch, 160, 96, 15)[0, 0, 0]  # the camera starts framed on subject 1
    batch.c2w[..., :3, :3] = batch.c2w[..., :3, :3] @ np.diag([-1.0, 1.0, -1.0])  # turn round
    assert not predicted_visibility(batch, 160, 96, 15, occluders=False)[0, 0, 0]
