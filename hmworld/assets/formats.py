"""Readers for 0 A.D.'s binary model formats, in numpy.

PMD ("PSMD", versions 3-4): a skinned or static triangle mesh. Vertices carry a position and normal in
bind-pose model space, `num_uvs` texture coordinates and four (bone index, weight) pairs (index 0xFF: no
bone); then u16 triangle indices, the skeleton's bind pose (one translation + quaternion per bone, absolute
in model space) and prop points (named attachment frames, relative to a bone or to the model).
PSA ("PSSA", version 1): a skeletal animation; for every frame, every bone's absolute model-space pose
(translation + quaternion), frames `frame_length_ms` apart.
Quaternions are stored (x, y, z, w). All values are little-endian; strings are u32 length + bytes.
"""
from __future__ import annotations

import struct
from dataclasses import dataclass

import numpy as np

from hmworld.errors import HMWorldError

NO_BONE = 0xFF
BONE_STATE = np.dtype([("translation", "<f4", 3), ("rotation", "<f4", 4)])


class AssetFormatError(HMWorldError):
    """An asset file is truncated or not in the format its name says."""


@dataclass(frozen=True)
class PropPoint:
    name: str
    translation: np.ndarray  # [3] in the bone's frame (or the model's when bone is None)
    rotation: np.ndarray  # [4] quaternion x, y, z, w
    bone: int | None


@dataclass(frozen=True)
class Mesh:
    positions: np.ndarray  # [V, 3] float32, bind pose
    normals: np.ndarray  # [V, 3] float32
    uvs: np.ndarray  # [V, num_uvs, 2] float32
    bone_ids: np.ndarray  # [V, 4] uint8 (NO_BONE where unused)
    bone_weights: np.ndarray  # [V, 4] float32
    faces: np.ndarray  # [T, 3] uint16
    bind_pose: np.ndarray  # [B] BONE_STATE, absolute model-space bone poses at bind time
    props: tuple[PropPoint, ...]
    version: int

    @property
    def num_bones(self) -> int:
        return len(self.bind_pose)


@dataclass(frozen=True)
class Animation:
    name: str
    frame_length_ms: float
    keys: np.ndarray  # [F, B] BONE_STATE, absolute model-space bone poses per frame

    @property
    def num_frames(self) -> int:
        return self.keys.shape[0]

    @property
    def num_bones(self) -> int:
        return self.keys.shape[1]

    @property
    def duration_ms(self) -> float:
        return self.frame_length_ms * max(self.num_frames - 1, 1)


class _Reader:
    def __init__(self, data: bytes, what: str):
        self.data, self.pos, self.what = memoryview(data), 0, what

    def take(self, n: int) -> memoryview:
        if n < 0 or self.pos + n > len(self.data):
            raise AssetFormatError(f"{self.what}: truncated (needs {n} bytes at offset {self.pos}, "
                                   f"file has {len(self.data)})")
        out = self.data[self.pos:self.pos + n]
        self.pos += n
        return out

    def u32(self) -> int:
        return struct.unpack("<I", self.take(4))[0]

    def f32(self) -> float:
        return struct.unpack("<f", self.take(4))[0]

    def array(self, dtype, count: int) -> np.ndarray:
        dtype = np.dtype(dtype)
        return np.frombuffer(self.take(dtype.itemsize * count), dtype).copy()

    def string(self) -> str:
        n = self.u32()
        return bytes(self.take(n)).decode("utf-8", "replace").rstrip("\0")


def _header(r: _Reader, magic: bytes, versions: tuple[int, ...]) -> int:
    got = bytes(r.take(4))
    if got != magic:
        raise AssetFormatError(f"{r.what}: not a {magic.decode()} file (starts with {got!r})")
    version = r.u32()
    if version not in versions:
        raise AssetFormatError(f"{r.what}: {magic.decode()} version {version} is not supported ({list(versions)})")
    size = r.u32()
    if size != len(r.data) - 12:
        raise AssetFormatError(f"{r.what}: header says {size} bytes of data, file has {len(r.data) - 12}")
    return version


def read_pmd(data: bytes, what: str = "PMD") -> Mesh:
    r = _Reader(data, what)
    version = _header(r, b"PSMD", (3, 4))
    num_vertices = r.u32()
    num_uvs = r.u32() if version >= 4 else 1
    vertex = np.dtype([("pos", "<f4", 3), ("normal", "<f4", 3), ("uv", "<f4", (num_uvs, 2)),
                       ("bones", "u1", 4), ("weights", "<f4", 4)])
    verts = r.array(vertex, num_vertices)
    faces = r.array("<u2", 3 * r.u32()).reshape(-1, 3)
    if len(faces) and int(faces.max()) >= num_vertices:
        raise AssetFormatError(f"{what}: a face indexes vertex {int(faces.max())} of {num_vertices}")
    bind = r.array(BONE_STATE, r.u32())
    bones = verts["bones"]
    if ((bones != NO_BONE) & (bones >= len(bind))).any():
        raise AssetFormatError(f"{what}: a vertex names a bone beyond the skeleton's {len(bind)}")
    props = []
    for _ in range(r.u32()):
        name = r.string()
        t = r.array("<f4", 3)
        q = r.array("<f4", 4)
        bone = int(r.array("u1", 1)[0])
        props.append(PropPoint(name, t, q, None if bone == NO_BONE else bone))
    if r.pos != len(r.data):
        raise AssetFormatError(f"{what}: {len(r.data) - r.pos} unread bytes at the end")
    return Mesh(np.ascontiguousarray(verts["pos"]), np.ascontiguousarray(verts["normal"]),
                np.ascontiguousarray(verts["uv"]), np.ascontiguousarray(bones),
                np.ascontiguousarray(verts["weights"]), faces, bind, tuple(props), version)


def read_psa(data: bytes, what: str = "PSA") -> Animation:
    r = _Reader(data, what)
    _header(r, b"PSSA", (1,))
    name = r.string()
    frame_length = r.f32()
    num_bones, num_frames = r.u32(), r.u32()
    keys = r.array(BONE_STATE, num_bones * num_frames).reshape(num_frames, num_bones)
    if r.pos != len(r.data):
        raise AssetFormatError(f"{what}: {len(r.data) - r.pos} unread bytes at the end")
    if num_frames == 0:
        raise AssetFormatError(f"{what}: no frames")
    return Animation(name, float(frame_length), keys)
