"""Conversions between Unreal (left-handed, X forward, Y right, Z up, cm, pitch/yaw/roll) and ours (OpenCV
camera-to-world, right-handed Z-up world, metres): expected axes, both directions, round trips through the
text the renderer sends, and the released HyDRA example camera convention."""
import numpy as np
import pytest

from hmworld.geometry import Intrinsics, yaw_rotation
from hmworld.render.unreal import _num
from hmworld.ue_axes import (c2w_to_ue_pose, heading_to_ue_yaw, opencv_to_ue_c2w, ue_c2w_to_opencv, ue_hfov_deg,
                             ue_hfov_to_fx, ue_location_to_world, ue_pose_to_c2w, ue_rotator_to_matrix,
                             ue_yaw_to_heading, world_to_ue_location)


def test_identity_rotator_looks_along_world_x_with_opencv_axes():
    c2w = ue_pose_to_c2w([100.0, 200.0, 50.0], 0.0, 0.0, 0.0)
    np.testing.assert_allclose(c2w[:3, 3], [1.0, -2.0, 0.5])  # cm -> m, UE +Y is our -Y
    np.testing.assert_allclose(c2w[:3, 2], [1, 0, 0], atol=1e-12)  # OpenCV z (forward) = UE X
    np.testing.assert_allclose(c2w[:3, 0], [0, -1, 0], atol=1e-12)  # OpenCV x (right) = UE Y = our -Y
    np.testing.assert_allclose(c2w[:3, 1], [0, 0, -1], atol=1e-12)  # OpenCV y (down) = -UE Z


@pytest.mark.parametrize("pitch, yaw, roll, forward, right", [
    (0, 90, 0, [0, -1, 0], [-1, 0, 0]),  # yaw turns X towards UE +Y: to the right, clockwise seen from above
    (0, -90, 0, [0, 1, 0], [1, 0, 0]),
    (30, 0, 0, [np.cos(np.pi / 6), 0, 0.5], [0, -1, 0]),  # pitch raises the view
    (0, 0, 90, [1, 0, 0], [0, 0, -1]),  # roll +90: the right side dips (UE roll about X)
])
def test_pitch_yaw_roll_conventions_both_ways(pitch, yaw, roll, forward, right):
    c2w = ue_pose_to_c2w([0.0, 0.0, 0.0], pitch, yaw, roll)
    np.testing.assert_allclose(c2w[:3, 2], forward, atol=1e-12)
    np.testing.assert_allclose(c2w[:3, 0], right, atol=1e-12)
    assert np.linalg.det(c2w[:3, :3]) == pytest.approx(1.0)
    loc, p, y, r = c2w_to_ue_pose(c2w)
    np.testing.assert_allclose([p, y, r], [pitch, yaw, roll], atol=1e-9)


def test_round_trips_including_the_wire_text():
    rng = np.random.default_rng(3)
    angles = rng.uniform([-80, -179, -60], [80, 179, 60], size=(200, 3))
    locs = rng.normal(size=(200, 3)) * 2000
    c2w = ue_pose_to_c2w(locs, *angles.T)
    loc, p, y, r = c2w_to_ue_pose(c2w)
    np.testing.assert_allclose(loc, locs, atol=1e-9)
    np.testing.assert_allclose(np.stack([p, y, r], -1), angles, atol=1e-9)
    # the renderer writes floats as their shortest exact decimal: reading them back loses nothing
    sent = np.vectorize(lambda v: float(_num(v)))(np.stack([p, y, r], -1))
    assert np.array_equal(sent, np.stack([p, y, r], -1))
    np.testing.assert_allclose(ue_pose_to_c2w(loc, *sent.T), c2w, atol=1e-12)
    np.testing.assert_allclose(opencv_to_ue_c2w(ue_c2w_to_opencv(c2w)), c2w, atol=1e-12)
    pts = rng.normal(size=(50, 3)) * 10
    np.testing.assert_allclose(ue_location_to_world(world_to_ue_location(pts)), pts, atol=1e-12)


def test_headings_and_actor_yaw():
    # heading 0 faces +X (UE yaw 0); heading +90 deg faces our +Y = UE -Y, which is UE yaw -90
    assert heading_to_ue_yaw(0.0) == 0.0
    assert heading_to_ue_yaw(np.pi / 2) == pytest.approx(-90.0)
    fwd = ue_rotator_to_matrix(0.0, heading_to_ue_yaw(np.pi / 2), 0.0)[:, 0]
    np.testing.assert_allclose(ue_location_to_world(fwd * 100), [0, 1, 0], atol=1e-12)
    h = np.random.default_rng(1).uniform(-np.pi, np.pi, 100)
    np.testing.assert_allclose(ue_yaw_to_heading(heading_to_ue_yaw(h)), h, atol=1e-12)
    assert ue_yaw_to_heading(-540.0) == pytest.approx(np.pi)  # wrapped to (-pi, pi]


def test_field_of_view_round_trip_matches_the_project_intrinsics():
    for w, h, hfov in ((832, 480, 60.0), (160, 96, 73.3), (64, 48, 75.0)):
        k = Intrinsics.from_hfov(w, h, hfov)
        assert ue_hfov_deg(k.fx, w) == pytest.approx(hfov, abs=1e-12)
        assert ue_hfov_to_fx(hfov, w) == pytest.approx(k.fx, rel=1e-14)


def test_released_hydra_example_camera_convention():
    """The released example JSON holds Unreal camera-to-world 4x4s (local X, Y, Z axes as columns, translation in
    the last column, cm). The released code normalises them by reordering columns to (Y, Z, X), negating the
    second and dividing the translation by 100; that keeps UE's mirrored world, so its matrices differ from ours
    by the world's Y mirror only and every relative pose (what the model sees) is identical."""
    rng = np.random.default_rng(7)
    n = 9
    angles = rng.uniform([-40, -179, -10], [40, 179, 10], size=(n, 3))
    ue = np.zeros((n, 4, 4))
    ue[:, :3, :3] = ue_rotator_to_matrix(*angles.T)
    ue[:, :3, 3] = rng.normal(size=(n, 3)) * 500
    ue[:, 3, 3] = 1.0
    released = ue[:, :, [1, 2, 0, 3]].copy()
    released[:, :, 1] *= -1
    released[:, :3, 3] /= 100.0
    ours = ue_c2w_to_opencv(ue)
    mirror = np.diag([1.0, -1.0, 1.0, 1.0])
    np.testing.assert_allclose(mirror @ released, ours, atol=1e-12)
    np.testing.assert_allclose(np.linalg.inv(ours[0]) @ ours, np.linalg.inv(released[0]) @ released, atol=1e-9)
    assert np.allclose(np.linalg.det(ours[:, :3, :3]), 1.0) and np.allclose(np.linalg.det(released[:, :3, :3]), -1.0)
    # a concrete frame: a camera 3 m up at UE (100, 200) cm, yawed 90 deg (looking along UE +Y)
    one = np.eye(4)
    one[:3, :3] = ue_rotator_to_matrix(0.0, 90.0, 0.0)
    one[:3, 3] = [100.0, 200.0, 300.0]
    c2w = ue_c2w_to_opencv(one)
    np.testing.assert_allclose(c2w[:3, 3], [1.0, -2.0, 3.0])
    np.testing.assert_allclose(c2w[:3, :3], [[-1, 0, 0], [0, 0, -1], [0, -1, 0]], atol=1e-12)  # columns: right, down, forward


def test_level_placement_transforms(catalog):
    """Static scene geometry exported to UE (ue_project/Scripts/export_catalog.py) converts back exactly."""
    from hmworld.render.base import scene_instances, sun_direction
    from hmworld.ue_axes import (ue_transform_to_world_model, world_direction_to_ue_rotator,
                                 world_model_to_ue_transform)

    scene = catalog.scenes["city_park"]
    models = np.stack([inst.model for inst in scene_instances(scene)])
    loc, (p, y, r), scale = world_model_to_ue_transform(models)
    np.testing.assert_allclose(ue_transform_to_world_model(loc, p, y, r, scale), models, atol=1e-9)
    np.testing.assert_allclose(scale, [inst.size for inst in scene_instances(scene)], rtol=1e-12)
    # a box turned 30 deg counter-clockwise in our world turns 30 deg clockwise (yaw -30) in UE
    box = np.eye(4)
    box[:3, :3] = yaw_rotation(np.pi / 6)
    box[:3, 3] = [1.0, 2.0, 0.5]
    loc, (p, y, r), _ = world_model_to_ue_transform(box)
    np.testing.assert_allclose([*loc, p, y, r], [100, -200, 50, 0, -30, 0], atol=1e-9)
    # the sun: a light travelling straight down has pitch -90; one travelling towards our +Y has UE yaw -90
    assert world_direction_to_ue_rotator([0, 0, -1])[0] == pytest.approx(-90)
    assert world_direction_to_ue_rotator([0, 1, 0])[1] == pytest.approx(-90)
    pitch, yaw = world_direction_to_ue_rotator(-sun_direction(scene))
    fwd = ue_rotator_to_matrix(pitch, yaw, 0.0)[:, 0]
    np.testing.assert_allclose(ue_location_to_world(fwd), -sun_direction(scene) / 100, atol=1e-12)
