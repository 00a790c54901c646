"""Unreal Engine axes <-> the project's conventions. The only module that knows UE axes.

Unreal: left-handed, X forward, Y right, Z up, centimetres; rotations as FRotator (pitch, yaw, roll) in degrees,
yaw about Z turning X towards Y, pitch raising X towards Z, roll about X.
Ours: world right-handed, Z up, metres; camera poses camera-to-world 4x4 in OpenCV camera axes
(x right, y down, z forward).

World map: (x, y, z)_ours = (x, -y, z)_UE / 100 (mirroring Y makes the frame right-handed and keeps X and Z).
Camera axes: OpenCV x (right) = UE camera Y, OpenCV y (down) = -UE camera Z, OpenCV z (forward) = UE camera X.
A UE camera-to-world matrix here has the UE camera's local X, Y, Z axes as its columns (column-vector
convention) and the location in the last column, as in the released HyDRA camera JSON.
All functions are pure numpy and vectorised over leading axes.
"""
from __future__ import annotations

import numpy as np

UE_CM_PER_METRE = 100.0
# World axes: ours = WORLD_FROM_UE @ UE (its own inverse).
WORLD_FROM_UE = np.diag([1.0, -1.0, 1.0])
# Columns: the OpenCV camera axes written in UE camera axes (x = Y_ue, y = -Z_ue, z = X_ue).
UE_CAMERA_FROM_OPENCV = np.array([[0.0, 0.0, 1.0], [1.0, 0.0, 0.0], [0.0, -1.0, 0.0]])


def ue_location_to_world(location_cm: np.ndarray) -> np.ndarray:
    """UE locations [..., 3] (cm) -> world points (m)."""
    return np.asarray(location_cm, float) @ WORLD_FROM_UE.T / UE_CM_PER_METRE


def world_to_ue_location(points_m: np.ndarray) -> np.ndarray:
    """World points [..., 3] (m) -> UE locations (cm)."""
    return np.asarray(points_m, float) @ WORLD_FROM_UE.T * UE_CM_PER_METRE


def ue_rotator_to_matrix(pitch_deg, yaw_deg, roll_deg) -> np.ndarray:
    """FRotator -> rotation [..., 3, 3] whose columns are the local X (forward), Y (right), Z (up) in UE world."""
    p, y, r = (np.radians(np.asarray(a, float)) for a in (pitch_deg, yaw_deg, roll_deg))
    p, y, r = np.broadcast_arrays(p, y, r)
    sp, cp, sy, cy, sr, cr = np.sin(p), np.cos(p), np.sin(y), np.cos(y), np.sin(r), np.cos(r)
    x_axis = np.stack([cp * cy, cp * sy, sp], -1)
    y_axis = np.stack([sr * sp * cy - cr * sy, sr * sp * sy + cr * cy, -sr * cp], -1)
    z_axis = np.stack([-(cr * sp * cy + sr * sy), cy * sr - cr * sp * sy, cr * cp], -1)
    return np.stack([x_axis, y_axis, z_axis], -1)


def ue_matrix_to_rotator(rot: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Inverse of `ue_rotator_to_matrix`: (pitch, yaw, roll) in degrees (yaw and roll in (-180, 180])."""
    rot = np.asarray(rot, float)
    fwd, right, up = rot[..., :, 0], rot[..., :, 1], rot[..., :, 2]
    pitch = np.degrees(np.arcsin(np.clip(fwd[..., 2], -1.0, 1.0)))
    yaw = np.degrees(np.arctan2(fwd[..., 1], fwd[..., 0]))
    roll = np.degrees(np.arctan2(-right[..., 2], up[..., 2]))
    return pitch, yaw, roll


def ue_c2w_to_opencv(ue_c2w: np.ndarray) -> np.ndarray:
    """UE camera-to-world [..., 4, 4] (local axes as columns, cm) -> OpenCV camera-to-world in our world (m)."""
    m = np.asarray(ue_c2w, float)
    out = np.zeros(m.shape[:-2] + (4, 4))
    out[..., :3, :3] = WORLD_FROM_UE @ m[..., :3, :3] @ UE_CAMERA_FROM_OPENCV
    out[..., :3, 3] = m[..., :3, 3] @ WORLD_FROM_UE.T / UE_CM_PER_METRE
    out[..., 3, 3] = 1.0
    return out


def opencv_to_ue_c2w(c2w: np.ndarray) -> np.ndarray:
    """Inverse of `ue_c2w_to_opencv`."""
    m = np.asarray(c2w, float)
    out = np.zeros(m.shape[:-2] + (4, 4))
    out[..., :3, :3] = WORLD_FROM_UE @ m[..., :3, :3] @ UE_CAMERA_FROM_OPENCV.T
    out[..., :3, 3] = m[..., :3, 3] @ WORLD_FROM_UE.T * UE_CM_PER_METRE
    out[..., 3, 3] = 1.0
    return out


def ue_pose_to_c2w(location_cm, pitch_deg, yaw_deg, roll_deg) -> np.ndarray:
    """UE camera location + FRotator -> OpenCV camera-to-world [..., 4, 4] in our world."""
    rot = ue_rotator_to_matrix(pitch_deg, yaw_deg, roll_deg)
    loc = np.broadcast_to(np.asarray(location_cm, float), rot.shape[:-2] + (3,))
    m = np.zeros(rot.shape[:-2] + (4, 4))
    m[..., :3, :3] = rot
    m[..., :3, 3] = loc
    m[..., 3, 3] = 1.0
    return ue_c2w_to_opencv(m)


def c2w_to_ue_pose(c2w: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """OpenCV camera-to-world -> (UE location cm [..., 3], pitch, yaw, roll in degrees)."""
    m = opencv_to_ue_c2w(c2w)
    pitch, yaw, roll = ue_matrix_to_rotator(m[..., :3, :3])
    return m[..., :3, 3], pitch, yaw, roll


# ------------------------------------------------------------------------- subjects and camera optics
def heading_to_ue_yaw(heading_rad) -> np.ndarray:
    """Our heading (radians about +Z, 0 facing +X, counter-clockwise) -> UE actor yaw in degrees.

    Mirroring Y turns counter-clockwise into clockwise, so the yaw is the negated heading.
    """
    return -np.degrees(np.asarray(heading_rad, float))


def ue_yaw_to_heading(yaw_deg) -> np.ndarray:
    """Inverse of `heading_to_ue_yaw`: UE yaw (degrees) -> our heading in radians, wrapped to (-pi, pi]."""
    h = -np.radians(np.asarray(yaw_deg, float))
    return np.pi - np.mod(np.pi - h, 2.0 * np.pi)


def ue_hfov_deg(fx, width) -> np.ndarray:
    """Horizontal field of view (degrees, what UE's FOVAngle and UnrealCV's `/camera/N/fov` hold) of a pinhole
    camera with focal length fx pixels and an image `width` pixels wide."""
    return np.degrees(2.0 * np.arctan(0.5 * np.asarray(width, float) / np.asarray(fx, float)))


def ue_hfov_to_fx(hfov_deg, width) -> np.ndarray:
    """Inverse of `ue_hfov_deg`: the focal length in pixels."""
    return 0.5 * np.asarray(width, float) / np.tan(np.radians(np.asarray(hfov_deg, float)) / 2.0)


# ---------------------------------------------------------------------------- placing things in a level
def world_model_to_ue_transform(model: np.ndarray) -> tuple[np.ndarray, tuple[np.ndarray, np.ndarray, np.ndarray], np.ndarray]:
    """A model matrix in our world [..., 4, 4] (rotation times per-axis scale, translation in metres) -> UE
    actor transform: location (cm), (pitch, yaw, roll) in degrees, and scale (unit shapes of 1 m become UE's
    100-unit basic shapes at the same scale). Mirroring Y keeps rotations proper: R_ue = M R M."""
    m = np.asarray(model, float)
    lin = m[..., :3, :3]
    scale = np.linalg.norm(lin, axis=-2)  # column norms
    rot = lin / np.maximum(scale[..., None, :], 1e-12)
    rot_ue = WORLD_FROM_UE @ rot @ WORLD_FROM_UE
    return world_to_ue_location(m[..., :3, 3]), ue_matrix_to_rotator(rot_ue), scale


def ue_transform_to_world_model(location_cm, pitch_deg, yaw_deg, roll_deg, scale) -> np.ndarray:
    """Inverse of `world_model_to_ue_transform`."""
    rot = WORLD_FROM_UE @ ue_rotator_to_matrix(pitch_deg, yaw_deg, roll_deg) @ WORLD_FROM_UE
    scale = np.asarray(scale, float)
    m = np.zeros(rot.shape[:-2] + (4, 4))
    m[..., :3, :3] = rot * scale[..., None, :]
    m[..., :3, 3] = ue_location_to_world(location_cm)
    m[..., 3, 3] = 1.0
    return m


def world_direction_to_ue_rotator(direction) -> tuple[np.ndarray, np.ndarray]:
    """A direction in our world -> (pitch, yaw) in degrees of a UE actor whose forward (X) axis points along it
    (e.g. a directional light shines along its forward axis: pass the direction the light travels)."""
    d = np.asarray(direction, float) @ WORLD_FROM_UE.T
    d = d / np.linalg.norm(d, axis=-1, keepdims=True)
    return np.degrees(np.arcsin(np.clip(d[..., 2], -1, 1))), np.degrees(np.arctan2(d[..., 1], d[..., 0]))
