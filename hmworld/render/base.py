"""The renderer interface every backend implements, and the scene content they share.

A renderer draws exactly what a ClipSpec says, one frame per camera pose, synchronously: frame i's RGB,
instance ids and depth all come from the same camera pose and subject poses (CARLA-style frame matching).
"""
from __future__ import annotations

import abc
from dataclasses import dataclass
from typing import Iterator

import numpy as np

from hmworld.catalog import Catalog, Material, SceneSpec
from hmworld.clipspec import ClipSpec
from hmworld.geometry import axis_rotation, yaw_rotation

GROUND_SIZE = 240.0  # metres: the ground runs to the horizon beyond open scenes
WALL_THICKNESS = 0.3


@dataclass
class Frame:
    """One rendered frame. rgb: uint8 [H, W, 3]; instances: uint8 [H, W] (0 background, k = subject with
    instance_id k); depth: float32 [H, W] metres along the camera's z axis, 0 where only sky shows (None when
    the renderer was asked not to read it back)."""

    rgb: np.ndarray
    instances: np.ndarray
    depth: np.ndarray | None = None


class Renderer(abc.ABC):
    """Draws ClipSpecs. Backends: `embedded` (moderngl, CPU or GPU EGL) and `unrealcv` (UE5)."""

    name: str = "abstract"

    def __init__(self, catalog: Catalog):
        self.catalog = catalog

    @abc.abstractmethod
    def render(self, spec: ClipSpec) -> Iterator[Frame]:
        """Yield the clip's frames in order; the whole clip or an exception, never a silent gap."""

    def close(self) -> None:  # noqa: B027 - optional hook
        pass

    def __enter__(self) -> "Renderer":
        return self

    def __exit__(self, *exc) -> None:
        self.close()


@dataclass(frozen=True)
class StaticInstance:
    """A primitive placed in the scene: model matrix (unit primitive -> world), material, and flags."""

    primitive: str
    model: np.ndarray  # [4, 4]
    size: np.ndarray  # [3] metres (texture coordinates are object-space metres)
    material: Material
    ground: bool = False


def _placed(primitive: str, center, size, material: Material, yaw_deg: float = 0.0, ground: bool = False) -> StaticInstance:
    model = np.eye(4)
    model[:3, :3] = yaw_rotation(np.radians(yaw_deg)) @ np.diag(size)
    model[:3, 3] = center
    return StaticInstance(primitive, model, np.asarray(size, float), material, ground)


def scene_instances(scene: SceneSpec) -> list[StaticInstance]:
    """The static content of a scene: ground, walls and props, as unit primitives."""
    ex, ey = scene.extent
    # the ground's top sits 2 mm below z = 0 so feet resting on the ground never z-fight with it
    out = [_placed("cube", (0.0, 0.0, -0.052), (GROUND_SIZE, GROUND_SIZE, 0.1), scene.ground, ground=True)]
    h = scene.wall_height
    if h > 0:
        t = WALL_THICKNESS
        for cx, cy, sx, sy in ((ex / 2 + t / 2, 0, t, ey + 2 * t), (-ex / 2 - t / 2, 0, t, ey + 2 * t),
                               (0, ey / 2 + t / 2, ex, t), (0, -ey / 2 - t / 2, ex, t)):
            out.append(_placed("cube", (cx, cy, h / 2), (sx, sy, h), scene.wall))
    for p in scene.props:
        x, y = p.position
        sx, sy, sz = p.size
        if p.shape == "box":
            out.append(_placed("cube", (x, y, sz / 2), (sx, sy, sz), p.material, p.yaw_deg))
        elif p.shape in ("cylinder", "pillar"):
            out.append(_placed("cylinder", (x, y, sz / 2), (sx, sy, sz), p.material, p.yaw_deg))
        elif p.shape == "rock":
            out.append(_placed("sphere", (x, y, sz * 0.35), (sx, sy, sz), p.material, p.yaw_deg))
        elif p.shape == "tree":
            trunk_h = 0.4 * sz
            bark = Material((0.36, 0.25, 0.15), "planks", 2.0)
            out.append(_placed("cylinder", (x, y, trunk_h / 2), (0.2 * sx, 0.2 * sy, trunk_h), bark))
            out.append(_placed("cone", (x, y, trunk_h + 0.3 * sz), (sx, sy, 0.62 * sz), p.material, p.yaw_deg))
    return out


def sky_instance(position: np.ndarray, size: float) -> np.ndarray:
    m = np.eye(4)
    m[:3, :3] *= size
    m[:3, 3] = position
    return m


def sun_direction(scene: SceneSpec) -> np.ndarray:
    """Unit vector towards the sun."""
    az, el = np.radians(scene.lighting.sun_azimuth_deg), np.radians(scene.lighting.sun_elevation_deg)
    return (axis_rotation("z", az) @ np.array([np.cos(el), 0.0, np.sin(el)]))
