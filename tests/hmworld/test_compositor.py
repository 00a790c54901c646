import numpy as np
import pytest

from tests.testlib import render_config
from hmworld.compositor import CompositionContext, Rejection, compose
from hmworld.errors import ConfigError
from hmworld.trajectories import distance_profile


@pytest.fixture(scope="module")
def ctx(catalog):
    return CompositionContext.from_config(catalog, render_config("out=x", "seed=11", "video.width=160",
                                                                 "video.height=96"))


def _specs(ctx, n):
    return [s for s in (compose(ctx, slot, 0) for slot in range(n)) if not isinstance(s, Rejection)]


def _as_dict(result):
    return result.to_dict() if not isinstance(result, Rejection) else result


def test_same_arguments_same_clip_and_no_global_rng(ctx):
    slot, attempt = next((i, a) for i in range(20) for a in range(3) if not isinstance(compose(ctx, i, a), Rejection))
    a = compose(ctx, slot, attempt)
    np.random.seed(123)  # the compositor must not read numpy's global state
    _ = np.random.random(10)
    b = compose(ctx, slot, attempt)
    assert a.to_dict() == b.to_dict()
    assert _as_dict(compose(ctx, slot, attempt + 1)) != a.to_dict()
    assert _as_dict(compose(ctx, slot + 1, attempt)) != a.to_dict()


def test_a_different_seed_gives_different_clips(catalog, ctx):
    other = CompositionContext.from_config(catalog, render_config("out=x", "seed=12", "video.width=160",
                                                                  "video.height=96"))
    assert [_as_dict(compose(other, i, 0)) for i in range(4)] != [_as_dict(compose(ctx, i, 0)) for i in range(4)]


def test_subjects_and_camera_stay_inside_the_scene_and_away_from_props(ctx, catalog):
    specs = _specs(ctx, 40)
    assert len(specs) > 20  # cheap placement rejections are fine: candidates are redrawn before any pixel
    for spec in specs:
        scene = catalog.scenes[spec.scene]
        hx, hy = scene.extent[0] / 2, scene.extent[1] / 2
        assert 1 <= len(spec.subjects) <= 3
        assert spec.camera_c2w.shape == (spec.num_frames, 4, 4)
        cam = spec.camera_c2w[:, :3, 3]
        assert np.all(np.abs(cam[:, 0]) < hx) and np.all(np.abs(cam[:, 1]) < hy)
        for t in spec.subjects:
            sub = catalog.subjects[t.name]
            assert np.all(np.abs(t.positions[:, 0]) <= hx - sub.radius)
            assert np.all(np.abs(t.positions[:, 1]) <= hy - sub.radius)
            for p in scene.props:
                d = np.linalg.norm(t.positions[:, :2] - np.array(p.position), axis=1)
                assert np.all(d >= p.footprint_radius), (spec.clip_id, t.name, p)
        # ids 1..n, distinct subjects
        assert [t.instance_id for t in spec.subjects] == list(range(1, len(spec.subjects) + 1))
        assert len({t.name for t in spec.subjects}) == len(spec.subjects)


def test_walk_phase_follows_distance_and_stops_with_the_subject(catalog):
    traj = catalog.subject_trajectories["stop_and_go"]
    frac = distance_profile(traj, 200)
    assert frac[0] == 0 and frac[-1] == pytest.approx(1)
    assert np.all(np.diff(frac) >= 0)
    assert np.sum(np.diff(frac) == 0) > 20  # real pauses
    straight = distance_profile(catalog.subject_trajectories["straight"], 50)
    np.testing.assert_allclose(np.diff(straight), np.diff(straight)[0])


def test_walk_phase_is_distance_over_stride(ctx, catalog):
    spec = _specs(ctx, 3)[0]
    for t in spec.subjects:
        walked = np.concatenate([[0], np.cumsum(np.linalg.norm(np.diff(t.positions, axis=0), axis=1))])
        np.testing.assert_allclose(t.walk_phase * catalog.subjects[t.name].stride, walked, rtol=0.05, atol=0.05)


def test_partition_test_uses_only_unseen_scenes_and_subjects(catalog):
    ctx = CompositionContext.from_config(catalog, render_config("out=x", "partition=test"))
    part = catalog.partitions["test"]
    for spec in _specs(ctx, 20):
        assert spec.scene in part.scenes and spec.partition == "test"
        assert all(t.name in part.subjects for t in spec.subjects)


@pytest.mark.parametrize("override,message", [
    ("video.width=161", "video.width=161 must be even"),
    ("video.height=8", "video.height=8 must be within 16..8192"),
    ("video.context_frames=1", "video.context_frames=1 must be within 2..2000"),
    ("video.fps=0", "video.fps=0.0 must be within"),
    ("scenes=[atlantis]", "unknown scenes name.*atlantis"),
    ("subjects=[unicorn]", "unknown subjects name.*unicorn"),
    ("subject_trajectories=[moonwalk]", "unknown subject_trajectories name"),
    ("camera_trajectories=[teleport]", "unknown camera_trajectories name"),
    ("scenes=[garden]", "not in the chosen partition"),
])
def test_bad_settings_are_named(catalog, override, message):
    with pytest.raises(ConfigError, match=message):
        CompositionContext.from_config(catalog, render_config("out=x", override))


def test_a_trajectory_that_leaves_every_scene_is_an_error(catalog):
    cfg = render_config("out=x", "subject_trajectories=[straight]", "scenes=[garden]", "partition=test",
                        "subjects=[horse_black]", "compositor.subjects_per_clip=[1]",
                        "compositor.subjects_per_clip_weights=[1]", "video.context_frames=400",
                        "video.target_frames=400", "camera_trajectories=[pan_away_back]")
    with pytest.raises(ConfigError, match="subject trajectory 'straight'.*leaves every selected scene"):
        CompositionContext.from_config(catalog, cfg)
