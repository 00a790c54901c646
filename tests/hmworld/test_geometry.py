import numpy as np

from hmworld.geometry import (Intrinsics, c2w_from_forward, forward_from_angles, gl_projection, gl_view,
                              invert_pose, look_at, project, world_to_camera)


def test_look_at_puts_the_target_on_the_principal_point_with_y_down():
    k = Intrinsics.from_hfov(320, 200, 60)
    c2w = look_at(np.array([1.0, -4.0, 1.5]), np.array([2.0, 3.0, 0.7]))
    uv = project(world_to_camera(np.array([2.0, 3.0, 0.7]), c2w), k)
    np.testing.assert_allclose(uv, [k.cx, k.cy], atol=1e-9)
    above = project(world_to_camera(np.array([2.0, 3.0, 1.7]), c2w), k)
    assert above[1] < k.cy  # world up is image up (smaller row)
    np.testing.assert_allclose(np.linalg.det(c2w[:3, :3]), 1.0)


def test_yaw_zero_looks_along_x_and_left_is_positive_y():
    c2w = c2w_from_forward(np.zeros(3), forward_from_angles(0.0, 0.0))
    np.testing.assert_allclose(c2w[:3, 2], [1, 0, 0], atol=1e-12)  # forward
    np.testing.assert_allclose(c2w[:3, 0], [0, -1, 0], atol=1e-12)  # right = -Y (Y is left)
    np.testing.assert_allclose(c2w[:3, 1], [0, 0, -1], atol=1e-12)  # down


def test_invert_pose_is_the_matrix_inverse():
    rng = np.random.default_rng(0)
    c2w = look_at(rng.normal(size=(5, 3)), rng.normal(size=(5, 3)) + 3, roll=rng.normal(size=5))
    np.testing.assert_allclose(invert_pose(c2w), np.linalg.inv(c2w), atol=1e-10)


def test_gl_matrices_land_on_the_same_pixel_as_opencv_projection():
    w, h = 160, 96
    k = Intrinsics(fx=120.0, fy=118.0, cx=81.0, cy=45.5)
    c2w = look_at(np.array([0.0, -5.0, 1.6]), np.array([0.3, 0.0, 1.0]))
    pts = np.array([[0.3, 0.0, 1.0], [1.0, 1.0, 0.2], [-0.8, 0.5, 2.0]])
    clip = (gl_projection(k, w, h, 0.1, 100.0) @ gl_view(c2w) @ np.c_[pts, np.ones(3)].T).T
    ndc = clip[:, :3] / clip[:, 3:]
    # viewport: x_window = (ndc + 1) / 2 * w; rows are flipped after readback; pixel centres at +0.5
    u = (ndc[:, 0] + 1) / 2 * w - 0.5
    v = (1 - ndc[:, 1]) / 2 * h - 0.5
    np.testing.assert_allclose(np.c_[u, v], project(world_to_camera(pts, c2w), k), atol=1e-9)
