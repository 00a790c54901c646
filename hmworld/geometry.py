"""Pure camera and pose geometry in the project's conventions.

World: right-handed, Z up, metres. Camera poses are camera-to-world 4x4 matrices in the OpenCV camera
convention (x right, y down, z forward). Pixel (0, 0) is the centre of the top-left pixel, as in OpenCV.
Every function is vectorised over leading axes and has no side effects.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

WORLD_UP = np.array([0.0, 0.0, 1.0])


@dataclass(frozen=True)
class Intrinsics:
    """Pinhole intrinsics in pixels (constant within a clip)."""

    fx: float
    fy: float
    cx: float
    cy: float

    @classmethod
    def from_hfov(cls, width: int, height: int, hfov_deg: float) -> "Intrinsics":
        """Square pixels, principal point at the image centre: (W-1)/2, (H-1)/2 with pixel centres at integers,
        so the frustum is symmetric as in Unreal's cameras."""
        fx = 0.5 * width / np.tan(np.radians(hfov_deg) / 2.0)
        return cls(fx=float(fx), fy=float(fx), cx=(width - 1) / 2.0, cy=(height - 1) / 2.0)

    def matrix(self) -> np.ndarray:
        return np.array([[self.fx, 0.0, self.cx], [0.0, self.fy, self.cy], [0.0, 0.0, 1.0]])

    def to_dict(self) -> dict:
        return {"fx": self.fx, "fy": self.fy, "cx": self.cx, "cy": self.cy}


def normalize(v: np.ndarray, axis: int = -1) -> np.ndarray:
    n = np.linalg.norm(v, axis=axis, keepdims=True)
    return v / np.maximum(n, 1e-12)


def forward_from_angles(yaw: np.ndarray, pitch: np.ndarray) -> np.ndarray:
    """Unit viewing direction for a yaw about +Z (0 = +X, counter-clockwise) and a pitch (up positive)."""
    yaw, pitch = np.asarray(yaw, float), np.asarray(pitch, float)
    cp = np.cos(pitch)
    return np.stack([cp * np.cos(yaw), cp * np.sin(yaw), np.sin(pitch)], axis=-1)


def c2w_from_forward(position: np.ndarray, forward: np.ndarray, roll: np.ndarray | float = 0.0) -> np.ndarray:
    """OpenCV camera-to-world poses [..., 4, 4] looking along `forward`, horizon level unless rolled.

    The camera's right axis is forward x up, its down axis forward x right (so y points down).
    """
    position = np.asarray(position, float)
    f = normalize(np.asarray(forward, float))
    right = normalize(np.cross(f, WORLD_UP))
    down = np.cross(f, right)
    roll = np.broadcast_to(np.asarray(roll, float), f.shape[:-1])[..., None]
    if np.any(roll):  # rotate right/down about forward
        c, s = np.cos(roll), np.sin(roll)
        right, down = c * right + s * down, c * down - s * right
    pose = np.zeros(f.shape[:-1] + (4, 4))
    pose[..., :3, 0] = right
    pose[..., :3, 1] = down
    pose[..., :3, 2] = f
    pose[..., :3, 3] = position
    pose[..., 3, 3] = 1.0
    return pose


def look_at(position: np.ndarray, target: np.ndarray, roll: np.ndarray | float = 0.0) -> np.ndarray:
    return c2w_from_forward(position, np.asarray(target, float) - np.asarray(position, float), roll)


def invert_pose(c2w: np.ndarray) -> np.ndarray:
    """Inverse of rigid 4x4 transforms (no general matrix inverse needed)."""
    rot = c2w[..., :3, :3]
    out = np.zeros_like(c2w)
    rt = np.swapaxes(rot, -1, -2)
    out[..., :3, :3] = rt
    out[..., :3, 3] = -np.einsum("...ij,...j->...i", rt, c2w[..., :3, 3])
    out[..., 3, 3] = 1.0
    return out


def world_to_camera(points: np.ndarray, c2w: np.ndarray) -> np.ndarray:
    """Points [..., 3] in world -> camera coordinates; c2w broadcasts as [..., 4, 4]."""
    rot = c2w[..., :3, :3]
    return np.einsum("...ji,...j->...i", rot, points - c2w[..., :3, 3])


def project(points_cam: np.ndarray, k: Intrinsics) -> np.ndarray:
    """Camera-frame points [..., 3] -> pixel coordinates [..., 2] (z must be positive to be meaningful)."""
    z = np.maximum(points_cam[..., 2], 1e-9)
    u = k.fx * points_cam[..., 0] / z + k.cx
    v = k.fy * points_cam[..., 1] / z + k.cy
    return np.stack([u, v], axis=-1)


def yaw_rotation(heading: np.ndarray) -> np.ndarray:
    """Rotation matrices [..., 3, 3] about +Z."""
    heading = np.asarray(heading, float)
    c, s = np.cos(heading), np.sin(heading)
    out = np.zeros(heading.shape + (3, 3))
    out[..., 0, 0], out[..., 0, 1] = c, -s
    out[..., 1, 0], out[..., 1, 1] = s, c
    out[..., 2, 2] = 1.0
    return out


def axis_rotation(axis: str, angle: np.ndarray) -> np.ndarray:
    """Rotation matrices [..., 3, 3] about a principal axis ('x', 'y' or 'z')."""
    angle = np.asarray(angle, float)
    c, s = np.cos(angle), np.sin(angle)
    i, j = {"x": (1, 2), "y": (2, 0), "z": (0, 1)}[axis]
    out = np.zeros(angle.shape + (3, 3))
    out[..., :, :] = np.eye(3)
    out[..., i, i], out[..., i, j] = c, -s
    out[..., j, i], out[..., j, j] = s, c
    return out


def gl_projection(k: Intrinsics, width: int, height: int, near: float, far: float) -> np.ndarray:
    """OpenGL clip matrix for an OpenCV camera, for use with `gl_view`.

    Image rows are counted from the top (we flip after the bottom-up readback) and pixel centres sit at
    integer OpenCV coordinates, so a point projected here lands on exactly the pixel `project` gives.
    """
    cx, cy = k.cx + 0.5, k.cy + 0.5
    m = np.zeros((4, 4))
    m[0, 0] = 2.0 * k.fx / width
    m[0, 2] = 1.0 - 2.0 * cx / width
    m[1, 1] = 2.0 * k.fy / height
    m[1, 2] = 2.0 * cy / height - 1.0
    m[2, 2] = -(far + near) / (far - near)
    m[2, 3] = -2.0 * far * near / (far - near)
    m[3, 2] = -1.0
    return m


_CV_TO_GL = np.diag([1.0, -1.0, -1.0, 1.0])


def gl_view(c2w: np.ndarray) -> np.ndarray:
    """World -> OpenGL eye coordinates (x right, y up, looking down -z) for an OpenCV pose."""
    return _CV_TO_GL @ invert_pose(c2w)
