"""Unit primitive meshes shared by the renderer and the geometric annotations (boxes, pre-filter).

Every primitive fits the unit cube [-0.5, 0.5]^3 so a part's size is its scale. Meshes are non-indexed
triangle lists with per-vertex normals (flat for the cube, smooth for round shapes).
"""
from __future__ import annotations

from functools import lru_cache

import numpy as np


def _cube() -> tuple[np.ndarray, np.ndarray]:
    pos, nrm = [], []
    for axis in range(3):
        for sign in (-1.0, 1.0):
            n = np.zeros(3)
            n[axis] = sign
            u, v = np.eye(3)[(axis + 1) % 3], np.eye(3)[(axis + 2) % 3]
            if sign < 0:
                u, v = v, u
            c = n * 0.5
            quad = [c - u / 2 - v / 2, c + u / 2 - v / 2, c + u / 2 + v / 2, c - u / 2 + v / 2]
            for i in (0, 1, 2, 0, 2, 3):
                pos.append(quad[i])
                nrm.append(n)
    return np.array(pos), np.array(nrm)


def _sphere(rings: int = 10, segments: int = 16) -> tuple[np.ndarray, np.ndarray]:
    theta = np.linspace(0, np.pi, rings + 1)
    phi = np.linspace(0, 2 * np.pi, segments + 1)
    grid = np.stack([np.sin(theta)[:, None] * np.cos(phi)[None], np.sin(theta)[:, None] * np.sin(phi)[None],
                     np.cos(theta)[:, None] * np.ones_like(phi)[None]], axis=-1)
    tris = []
    for i in range(rings):
        for j in range(segments):
            a, b, c, d = grid[i, j], grid[i + 1, j], grid[i + 1, j + 1], grid[i, j + 1]
            tris += [a, b, c, a, c, d]
    n = np.array(tris)
    return n * 0.5, n


def _cylinder(segments: int = 16, cone: bool = False) -> tuple[np.ndarray, np.ndarray]:
    phi = np.linspace(0, 2 * np.pi, segments + 1)
    ring = np.stack([np.cos(phi), np.sin(phi), np.zeros_like(phi)], axis=1) * 0.5
    top_scale = 0.0 if cone else 1.0
    pos, nrm = [], []
    slope = 0.5 if cone else 0.0  # normal tilt for the cone's side
    for j in range(segments):
        a, b = ring[j], ring[j + 1]
        bot_a, bot_b = a + [0, 0, -0.5], b + [0, 0, -0.5]
        top_a, top_b = a * top_scale + [0, 0, 0.5], b * top_scale + [0, 0, 0.5]
        na = np.array([a[0] * 2, a[1] * 2, slope]) / np.sqrt(1 + slope**2)
        nb = np.array([b[0] * 2, b[1] * 2, slope]) / np.sqrt(1 + slope**2)
        pos += [bot_a, bot_b, top_b, bot_a, top_b, top_a]
        nrm += [na, nb, nb, na, nb, na]
        pos += [[0, 0, -0.5], bot_b, bot_a]
        nrm += [[0, 0, -1]] * 3
        if not cone:
            pos += [[0, 0, 0.5], top_a, top_b]
            nrm += [[0, 0, 1]] * 3
    return np.array(pos, float), np.array(nrm, float)


@lru_cache(maxsize=None)
def unit_mesh(name: str) -> tuple[np.ndarray, np.ndarray]:
    """(positions [V, 3], normals [V, 3]) of a unit primitive, as float32 triangle lists."""
    builders = {"cube": _cube, "sphere": _sphere, "cylinder": _cylinder, "cone": lambda: _cylinder(cone=True)}
    if name not in builders:
        raise ValueError(f"unknown primitive {name!r}; known: {sorted(builders)}")
    pos, nrm = builders[name]()
    return pos.astype(np.float32), nrm.astype(np.float32)


@lru_cache(maxsize=None)
def unit_vertices(name: str) -> np.ndarray:
    """Distinct vertices of a primitive (for projecting its silhouette's bounding box)."""
    return np.unique(np.round(unit_mesh(name)[0].astype(np.float64), 6), axis=0)
