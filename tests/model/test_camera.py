"""Camera vectors for the model and the Unreal Engine axes conversion."""
from __future__ import annotations

import json

import numpy as np
import pytest

from hmworld import geometry
from hmworld.model import camera_input, load_released_camera_json, relative_camera_vectors
from hmworld.ue_axes import (
    c2w_to_ue_pose,
    opencv_to_ue_c2w,
    ue_c2w_to_opencv,
    ue_location_to_world,
    ue_matrix_to_rotator,
    ue_pose_to_c2w,
    ue_rotator_to_matrix,
    world_to_ue_location,
)


def _random_poses(rng, n):
    pos = rng.normal(size=(n, 3)) * 3
    fwd = rng.normal(size=(n, 3))
    return geometry.c2w_from_forward(pos, fwd, roll=rng.uniform(-0.3, 0.3, n))


def test_relative_vectors_pick_latent_frames_and_reference_the_first_target_frame():
    rng = np.random.default_rng(0)
    ctx, tgt = _random_poses(rng, 21), _random_poses(rng, 21)
    c, t = relative_camera_vectors(ctx, tgt)
    assert c.shape == (6, 12) and t.shape == (6, 12) and c.dtype == np.float32
    np.testing.assert_allclose(t[0], np.eye(4)[:3].reshape(12), atol=1e-6)
    # latent frame 2 of the context is video frame 8
    rel = np.linalg.inv(tgt[0]) @ ctx[8]
    np.testing.assert_allclose(c[2], rel[:3, :4].reshape(12), atol=1e-5)
    # row-major: the translation is elements 3, 7, 11
    np.testing.assert_allclose(c[2][[3, 7, 11]], rel[:3, 3], atol=1e-5)
    # a rigid change of world frame leaves the model input unchanged
    world = geometry.c2w_from_forward(np.array([4.0, -2.0, 1.0]), np.array([0.3, 1.0, 0.2]))
    c2, t2 = relative_camera_vectors(world @ ctx, world @ tgt)
    np.testing.assert_allclose(c2, c, atol=1e-5)
    np.testing.assert_allclose(t2, t, atol=1e-5)
    cam, n_ctx = camera_input(ctx, tgt)
    assert tuple(cam.shape) == (1, 12, 12) and n_ctx == 6


def test_frame_counts_must_be_4k_plus_1():
    rng = np.random.default_rng(1)
    with pytest.raises(ValueError, match="4k\\+1"):
        relative_camera_vectors(_random_poses(rng, 20), _random_poses(rng, 21))


def test_rotator_matrix_is_unreal_s_convention():
    r = ue_rotator_to_matrix(0.0, 90.0, 0.0)
    np.testing.assert_allclose(r[:, 0], [0, 1, 0], atol=1e-12)  # yaw turns forward (X) towards right (Y)
    r = ue_rotator_to_matrix(30.0, 0.0, 0.0)
    assert r[2, 0] == pytest.approx(0.5)  # pitch raises forward
    rng = np.random.default_rng(2)
    angles = rng.uniform([-89, -179, -179], [89, 179, 179], size=(50, 3))
    rots = ue_rotator_to_matrix(*angles.T)
    np.testing.assert_allclose(rots @ np.swapaxes(rots, -1, -2), np.broadcast_to(np.eye(3), rots.shape), atol=1e-12)
    np.testing.assert_allclose(np.linalg.det(rots), 1.0, atol=1e-12)
    back = np.stack(ue_matrix_to_rotator(rots), -1)
    np.testing.assert_allclose(back, angles, atol=1e-9)


def test_ue_pose_to_opencv_world_matches_project_geometry():
    # UE camera at (100, 200, 50) cm looking along +X (yaw 0): our world (1, -2, 0.5) m looking along +X
    c2w = ue_pose_to_c2w([100.0, 200.0, 50.0], 0.0, 0.0, 0.0)
    expect = geometry.c2w_from_forward(np.array([1.0, -2.0, 0.5]), np.array([1.0, 0.0, 0.0]))
    np.testing.assert_allclose(c2w, expect, atol=1e-12)
    # UE yaw +90 looks along UE +Y, which is our -Y; pitch up looks up (+Z) in both
    c2w = ue_pose_to_c2w([0.0, 0.0, 0.0], 20.0, 90.0, 0.0)
    expect = geometry.c2w_from_forward(np.zeros(3), geometry.forward_from_angles(-np.pi / 2, np.radians(20)))
    np.testing.assert_allclose(c2w, expect, atol=1e-12)
    rng = np.random.default_rng(3)
    angles = rng.uniform([-80, -179, -170], [80, 179, 170], size=(20, 3))
    locs = rng.normal(size=(20, 3)) * 500
    poses = ue_pose_to_c2w(locs, *angles.T)
    np.testing.assert_allclose(np.linalg.det(poses[:, :3, :3]), 1.0, atol=1e-12)  # right-handed camera frames
    loc, p, y, r = c2w_to_ue_pose(poses)
    np.testing.assert_allclose(loc, locs, atol=1e-9)
    np.testing.assert_allclose(np.stack([p, y, r], -1), angles, atol=1e-9)
    np.testing.assert_allclose(opencv_to_ue_c2w(ue_c2w_to_opencv(poses)), poses, atol=1e-12)
    np.testing.assert_allclose(world_to_ue_location(ue_location_to_world(locs)), locs, atol=1e-9)


def test_released_camera_json_matches_the_released_normalisation(tmp_path):
    rng = np.random.default_rng(4)
    n = 21
    mats = {}
    for half in ("cond_cam", "tgt_cam"):
        angles = rng.uniform([-30, -179, -5], [30, 179, 5], size=(n, 3))
        m = np.zeros((n, 4, 4))
        m[:, :3, :3] = ue_rotator_to_matrix(*angles.T)
        m[:, :3, 3] = rng.normal(size=(n, 3)) * 800
        m[:, 3, 3] = 1
        mats[half] = m
    path = tmp_path / "cam.json"
    path.write_text(json.dumps({h: {str(i): m[i].tolist() for i in range(n)} for h, m in mats.items()}))
    ctx, tgt = load_released_camera_json(path)
    c, t = relative_camera_vectors(ctx, tgt)

    def released(m):  # the released code's normalisation, applied to the raw Unreal matrices
        m = m[:, :, [1, 2, 0, 3]].copy()
        m[:, :, 1] *= -1
        m[:, :3, 3] /= 100.0
        return m

    rc, rt = released(mats["cond_cam"])[::4], released(mats["tgt_cam"])[::4]
    ref = np.linalg.inv(rt[0])
    np.testing.assert_allclose(c, (ref @ rc)[:, :3, :4].reshape(-1, 12), atol=1e-5)
    np.testing.assert_allclose(t, (ref @ rt)[:, :3, :4].reshape(-1, 12), atol=1e-5)
    np.testing.assert_allclose(np.linalg.det(ctx[:, :3, :3]), 1.0, atol=1e-9)  # ours stay proper rotations
    with pytest.raises(FileNotFoundError, match="missing.json"):
        load_released_camera_json(tmp_path / "missing.json")
