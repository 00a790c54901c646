"""Tracking shots: the camera walks with the main subject, level, framing it large, then pans away and back on
the planned frames (hmworld/tracking.py, the compositor's default camera)."""
import numpy as np
import pytest

from tests.testlib import render_config
from hmworld.body import footprint_half_axes
from hmworld.compositor import CompositionContext, Rejection, compose
from hmworld.errors import ConfigError
from hmworld.events import PrefilterBatch, find_events, predicted_visibility
from hmworld.tracking import plan_pan, silhouette_half_width, size_scale, stop_time_warp

PAPER = ["video.width=832", "video.height=480"]  # 77 + 77 frames by default


def _specs(catalog, n, *overrides):
    ctx = CompositionContext.from_config(catalog, render_config("out=x", *overrides))
    specs = [s for s in (compose(ctx, slot, a) for slot in range(n) for a in range(2)) if not isinstance(s, Rejection)]
    return ctx, specs


def _yaw(c2w):
    fwd = c2w[:, :3, 2]
    return np.degrees(np.unwrap(np.arctan2(fwd[:, 1], fwd[:, 0])))


@pytest.mark.parametrize("mode", ["lead", "follow", "alongside"])
def test_camera_walks_with_the_subject_level_and_close(catalog, mode):
    ctx, specs = _specs(catalog, 12, *PAPER, f"camera_trajectories=[track_{mode}]")
    t = ctx.tracking
    assert len(specs) >= 8
    for spec in specs:
        c2w, main = spec.camera_c2w, spec.subjects[0]
        sub = catalog.subjects[main.name]
        assert spec.camera_trajectory == f"track_{mode}"
        # level: no pitch, no roll; constant height within the hand-held range
        np.testing.assert_allclose(c2w[:, 2, 2], 0.0, atol=1e-9)  # forward has no vertical component
        np.testing.assert_allclose(c2w[:, 2, 0], 0.0, atol=1e-9)  # right axis stays horizontal
        assert np.ptp(c2w[:, 2, 3]) < 1e-9 and t.height[0] - 1e-9 <= c2w[0, 2, 3] <= t.height[1] + 1e-9
        # framed at the planned distance at frame 0
        offset = c2w[:, :2, 3] - main.positions[:, :2]
        d0 = np.hypot(*offset[0])
        lo, hi = (x * size_scale(sub.height) for x in t.distance)
        assert lo - 1e-6 <= d0 <= hi + 1e-6 or np.isclose(d0, sub.radius + 0.4)
        # it walks with the subject: same steps, same relative position, through the first half of the context
        half = spec.video.context_frames // 2
        np.testing.assert_allclose(offset[:half], np.broadcast_to(offset[0], offset[:half].shape), atol=1e-6)
        assert np.linalg.norm(c2w[half, :2, 3] - c2w[0, :2, 3]) > 0.5
        # where it stands relative to the walking direction
        heading = np.array([np.cos(main.headings[0]), np.sin(main.headings[0])])
        along = float(offset[0] @ heading) / d0
        if mode == "lead":
            assert along > 0.99  # ahead of the subject, looking back at it
        elif mode == "follow":
            assert along < -0.99
        else:
            assert abs(along) < 0.01
        # and the subject is in front of the camera at frame 0
        fwd = c2w[0, :2, 2]
        assert float(-offset[0] @ fwd) > 0.9 * d0


def test_pan_away_is_timed_to_the_planned_exit_and_gap(catalog):
    """The predicted (geometric) exit and re-entry of the main subject land where the settings put them."""
    ctx, specs = _specs(catalog, 30, *PAPER)
    t, rules = ctx.tracking, ctx.rules
    batch = PrefilterBatch.from_specs(specs, catalog.scenes, catalog.subjects)
    visible, height = predicted_visibility(batch, 832, 480, rules.min_visible_pixels, occluders=False)
    exit_, entry, reason, _ = find_events(visible[:, :1], height[:, :1], 77, rules)
    ok = reason[:, 0] == 0
    assert ok.mean() >= 0.9, reason[:, 0]
    # planned with a degree of margin beyond the silhouette, so the predicted frames sit within a frame or two
    assert np.all(exit_[ok, 0] >= t.exit_frame[0] - 2) and np.all(exit_[ok, 0] <= t.exit_frame[1] + 2)
    gap = entry[ok, 0] - exit_[ok, 0]
    assert np.all(gap >= max(t.hidden_gap[0] - 2, rules.hidden_gap[0])) and np.all(gap <= t.hidden_gap[1] + 3)
    for spec in specs:
        yaw = _yaw(spec.camera_c2w)
        rate = np.abs(np.diff(yaw))
        assert rate.max() <= t.pan_rate[1] + 0.3  # the fastest sampled pan, plus turning after a walking subject
        assert np.argmax(np.abs(yaw - yaw[0])) > 50  # the pan peaks near the end of the context, not before
        # and it comes back to the subject, wherever it walked: in view at the end, in front of the camera
        last = spec.camera_c2w[-1]
        cam = (spec.subjects[0].positions[-1] - last[:3, 3]) @ last[:3, :3]
        assert cam[2] > 0 and abs(cam[0] / cam[2]) < spec.intrinsics.cx / spec.intrinsics.fx


def test_further_subjects_start_in_view(catalog):
    _, specs = _specs(catalog, 20, *PAPER, "compositor.subjects_per_clip=[3]", "compositor.subjects_per_clip_weights=[1]")
    assert specs
    for spec in specs:
        c2w = spec.camera_c2w[0]
        for track in spec.subjects[1:]:
            rel = track.positions[0] - c2w[:3, 3]
            cam = rel @ c2w[:3, :3]
            assert cam[2] > 0 and abs(cam[0] / cam[2]) < spec.intrinsics.cx / spec.intrinsics.fx


def test_a_following_camera_may_stop_and_then_stands_still(catalog):
    _, specs = _specs(catalog, 20, *PAPER, "camera_trajectories=[track_follow]", "tracking.camera_stop_probability=1")
    for spec in specs:
        step = np.linalg.norm(np.diff(spec.camera_c2w[:, :3, 3], axis=0), axis=1)
        assert step[:40].min() > 0.01 or spec.subjects[0].trajectory == "stop_and_go"
        assert step[85:].max() < 1e-9  # stopped by frame 80 at the latest
    clock = stop_time_warp(100, 60.0, 10.0)
    assert np.all(np.diff(clock) >= 0) and np.allclose(np.diff(clock)[:49], 1.0) and np.ptp(clock[61:]) == 0


def test_plan_pan_hits_its_frames():
    plan = plan_pan(40.0, 38.0, 63.0, 80.0, 2.2, 2.0, 5.0, 8.0)
    frames = np.arange(154, dtype=float)
    angle = plan.angles(frames)
    assert angle[62] < 40.0 <= angle[64] and angle[79] > 38.0 >= angle[81]
    assert np.abs(np.diff(angle)).max() <= 2.2 + 1e-6 and abs(angle[-1] - 8.0) < 1e-6
    assert plan_pan(40.0, 38.0, 63.0, 64.0, 2.2, 2.0, 5.0, 8.0) is None  # a 1-frame gap cannot be panned at 2 deg/frame


def test_silhouette_is_the_footprint_seen_along_the_sight_line(catalog):
    along, across = footprint_half_axes(catalog.subjects["horse_bay"])
    assert along > 2 * across  # a horse is long and narrow
    assert np.isclose(silhouette_half_width(along, across, 0.0, 0.0), across)  # seen head-on
    assert np.isclose(silhouette_half_width(along, across, 0.0, np.pi / 2), along)  # seen side-on


@pytest.mark.parametrize("overrides,message", [
    (["tracking.exit_frame=[50,55]", "tracking.hidden_gap=[5,10]"], "never reach the target half"),
    (["tracking.hidden_gap=[40,50]"], "outside events.hidden_gap"),
    (["tracking.return_residual_deg=[0,40]"], "tracking.return_residual_deg"),
    (["tracking.pace=[2,1]"], "tracking.pace"),
    (["tracking.camera_stop_probability=2"], "tracking.camera_stop_probability"),
    (["events.hidden_gap=[0,3]"], "events.hidden_gap"),
    (["tracking.subject_trajectories=[moonwalk]"], "moonwalk"),
    (["compositor.others_distance=[9,3]"], "compositor.others_distance"),
])
def test_settings_that_cannot_give_an_event_fail_before_rendering(catalog, overrides, message):
    with pytest.raises(ConfigError, match=message):
        CompositionContext.from_config(catalog, render_config("out=x", *overrides))


def test_a_scene_too_small_for_a_tracking_shot_is_refused_by_name(catalog, tmp_path):
    (tmp_path / "scene").mkdir()
    (tmp_path / "scene" / "closet.yaml").write_text(
        "description: a closet\nextent: [6, 6]\nground: {color: [0.5, 0.5, 0.5]}\n"
        "lighting: {sun_azimuth_deg: 0, sun_elevation_deg: 45, sun_color: [1, 1, 1], ambient: 0.3, "
        "sky_top: [0.5, 0.6, 0.9], sky_horizon: [0.8, 0.8, 0.9]}\n")
    (tmp_path / "partition").mkdir()
    (tmp_path / "partition" / "tiny.yaml").write_text("scenes: [closet]\nsubjects: [man_red_hoodie, dog_corgi, puppy_black]\n")
    from hmworld.catalog import load_catalog

    cat = load_catalog([tmp_path])
    cfg = render_config("out=x", "partition=train", f"catalog_dirs=[{tmp_path}]")
    cfg.partition.name = "tiny"
    with pytest.raises(ConfigError, match="scene 'closet'.*too small for a tracking shot"):
        CompositionContext.from_config(cat, cfg)
