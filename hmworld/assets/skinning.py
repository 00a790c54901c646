"""Linear-blend skinning for 0 A.D. meshes, in numpy: the reference the GPU path is checked against.

A PSA frame gives every bone's absolute pose; the skinning matrix of bone b is pose_b @ inverse(bind_b)
(bind from the PMD), and a vertex moves to sum_i w_i * skin[b_i] @ v. Between frames, translations are
interpolated linearly and rotations by normalised lerp along the shorter arc. A prop (a head) follows its
bone: pose_bone @ T(prop.translation) @ R(prop.rotation).
"""
from __future__ import annotations

import numpy as np

from hmworld.assets.formats import NO_BONE, Animation, Mesh, PropPoint

# 0 A.D. model space: y up, the model facing -z, its left side at +x (left-handed: prop points "*_L" lie at
# x > 0, heads at z < 0). Ours: x forward, y left, z up (right-handed), so the change of axes is a reflection.
ZEROAD_TO_LOCAL = np.array([[0.0, 0.0, -1.0], [1.0, 0.0, 0.0], [0.0, 1.0, 0.0]])


def quat_to_matrix(q: np.ndarray) -> np.ndarray:
    """[..., 4] quaternions (x, y, z, w) -> [..., 3, 3] rotation matrices (normalised first)."""
    q = np.asarray(q, np.float64)
    q = q / np.linalg.norm(q, axis=-1, keepdims=True)
    x, y, z, w = np.moveaxis(q, -1, 0)
    return np.stack([
        np.stack([1 - 2 * (y * y + z * z), 2 * (x * y - z * w), 2 * (x * z + y * w)], -1),
        np.stack([2 * (x * y + z * w), 1 - 2 * (x * x + z * z), 2 * (y * z - x * w)], -1),
        np.stack([2 * (x * z - y * w), 2 * (y * z + x * w), 1 - 2 * (x * x + y * y)], -1),
    ], -2)


def pose_matrices(states: np.ndarray) -> np.ndarray:
    """BONE_STATE records [...] -> [..., 4, 4] rigid transforms."""
    m = np.zeros(states.shape + (4, 4))
    m[..., :3, :3] = quat_to_matrix(states["rotation"])
    m[..., :3, 3] = states["translation"]
    m[..., 3, 3] = 1.0
    return m


def animation_state(anim: Animation, phase: float) -> tuple[np.ndarray, np.ndarray]:
    """Bone translations [B, 3] and unit quaternions [B, 4] at `phase` cycles through a looping animation
    (frame F-1 closes the loop)."""
    span = max(anim.num_frames - 1, 1)
    t = (float(phase) % 1.0) * span
    i0 = min(int(np.floor(t)), anim.num_frames - 1)
    i1 = min(i0 + 1, anim.num_frames - 1)
    k0, k1 = anim.keys[i0], anim.keys[i1]
    return blend_states((k0["translation"], k0["rotation"]), (k1["translation"], k1["rotation"]), t - i0)


def blend_states(a: tuple[np.ndarray, np.ndarray], b: tuple[np.ndarray, np.ndarray], w: float):
    """(1 - w) a + w b: translations linearly, rotations by normalised lerp along the shorter arc."""
    ta, qa = np.asarray(a[0], np.float64), np.asarray(a[1], np.float64)
    tb, qb = np.asarray(b[0], np.float64), np.asarray(b[1], np.float64)
    qb = np.where((np.sum(qa * qb, axis=-1) < 0)[:, None], -qb, qb)
    q = (1 - w) * qa + w * qb
    return (1 - w) * ta + w * tb, q / np.linalg.norm(q, axis=-1, keepdims=True)


def state_matrices(translation: np.ndarray, rotation: np.ndarray) -> np.ndarray:
    m = np.zeros((len(translation), 4, 4))
    m[:, :3, :3] = quat_to_matrix(rotation)
    m[:, :3, 3] = translation
    m[:, 3, 3] = 1.0
    return m


def animation_pose(anim: Animation, phase: float) -> np.ndarray:
    """Bone poses [B, 4, 4] at `phase` cycles through a looping animation."""
    return state_matrices(*animation_state(anim, phase))


def blended_pose(walk: Animation, walk_phase: float, idle: Animation, idle_phase: float, walk_weight: float) -> np.ndarray:
    """The walk cycle, the idle cycle, or a cross-fade of the two (walk_weight 1: walking)."""
    if walk_weight >= 1.0:
        return animation_pose(walk, walk_phase)
    if walk_weight <= 0.0:
        return animation_pose(idle, idle_phase)
    n = min(walk.num_bones, idle.num_bones)
    w_t, w_q = animation_state(walk, walk_phase)
    i_t, i_q = animation_state(idle, idle_phase)
    return state_matrices(*blend_states((i_t[:n], i_q[:n]), (w_t[:n], w_q[:n]), walk_weight))


def walk_weights(walking: np.ndarray, fps: float, fade_s: float = 0.3) -> np.ndarray:
    """Per frame, how much of the walk cycle shows (0 idle .. 1 walking): it ramps linearly over `fade_s`
    (a whole number of frames) towards 1 while the subject walks and towards 0 while it stands, starting
    settled. Counted in whole steps, so the ends are exactly 0 and 1."""
    walking = np.asarray(walking, bool)
    n = max(1, int(round(fade_s * fps)))
    out = np.zeros(len(walking))
    k = n if len(walking) and walking[0] else 0
    for i, moving in enumerate(walking):
        k = min(n, k + 1) if moving else max(0, k - 1)
        out[i] = k / n
    return out


def inverse_bind(mesh: Mesh) -> np.ndarray:
    """[B, 4, 4] inverses of the bind pose (computed once per mesh by callers that skin every frame)."""
    return np.linalg.inv(pose_matrices(mesh.bind_pose))


def skin_palette(mesh: Mesh, pose: np.ndarray, inv_bind: np.ndarray | None = None) -> np.ndarray:
    """[B, 4, 4] skinning matrices pose @ inverse(bind)."""
    if pose.shape[0] < mesh.num_bones:
        raise ValueError(f"the animation has {pose.shape[0]} bones, the mesh's skeleton {mesh.num_bones}")
    return pose[:mesh.num_bones] @ (inverse_bind(mesh) if inv_bind is None else inv_bind)


def skin_vertices(mesh: Mesh, palette: np.ndarray) -> np.ndarray:
    """Skinned positions [V, 3] (model space). Vertices with no bone stay where they are."""
    ids = mesh.bone_ids.astype(np.int64)
    w = np.where(ids == NO_BONE, 0.0, mesh.bone_weights.astype(np.float64))
    ids = np.where(ids == NO_BONE, 0, ids)
    pos = np.concatenate([mesh.positions.astype(np.float64), np.ones((len(ids), 1))], axis=1)
    if len(palette) == 0:
        return pos[:, :3]
    moved = np.einsum("vkij,vj->vki", palette[ids], pos)  # [V, 4, 4]
    out = np.einsum("vk,vki->vi", w, moved)[:, :3]
    total = w.sum(axis=1, keepdims=True)
    return np.where(total > 1e-6, out / np.maximum(total, 1e-6), pos[:, :3])


def prop_transform(prop: PropPoint, pose: np.ndarray) -> np.ndarray:
    local = np.eye(4)
    local[:3, :3] = quat_to_matrix(prop.rotation)
    local[:3, 3] = prop.translation
    return local if prop.bone is None else pose[prop.bone] @ local
