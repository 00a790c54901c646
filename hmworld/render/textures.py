"""Procedural, seeded texture patterns (numpy), one layer per name in catalog.TEXTURES.

A layer stores a brightness modulation m in [0, 2) as uint8 (m / 2 * 255); the renderer multiplies the
material colour by it, so a handful of tileable patterns give every material its look.
"""
from __future__ import annotations

from functools import lru_cache

import numpy as np

from hmworld.catalog import TEXTURES

SIZE = 128


def _value_noise(rng: np.random.Generator, cells: int) -> np.ndarray:
    """Tileable smooth noise in [-1, 1] with `cells` lattice cells per tile side."""
    lattice = rng.uniform(-1, 1, (cells, cells))
    x = np.arange(SIZE) * cells / SIZE
    i0 = np.floor(x).astype(int)
    f = x - i0
    f = f * f * (3 - 2 * f)
    i1 = (i0 + 1) % cells
    a = lattice[np.ix_(i0, i0)] * (1 - f)[None, :] + lattice[np.ix_(i0, i1)] * f[None, :]
    b = lattice[np.ix_(i1, i0)] * (1 - f)[None, :] + lattice[np.ix_(i1, i1)] * f[None, :]
    return a * (1 - f)[:, None] + b * f[:, None]


def _fractal(rng: np.random.Generator, base: int = 4, octaves: int = 4) -> np.ndarray:
    out = sum(_value_noise(rng, base * 2**o) * 0.5**o for o in range(octaves))
    return out / np.abs(out).max()


def _pattern(name: str, rng: np.random.Generator) -> np.ndarray:
    y, x = np.mgrid[0:SIZE, 0:SIZE] / SIZE
    fine = _fractal(rng, 8, 3)
    if name == "flat":
        return np.ones((SIZE, SIZE))
    if name == "noise":
        return 1.0 + 0.22 * _fractal(rng)
    if name == "grass":
        return 1.0 + 0.25 * fine + 0.12 * _fractal(rng, 2, 2)
    if name == "tiles":  # 4 x 4 tiles per repeat with dark grout
        grout = (np.minimum((x * 4) % 1, (y * 4) % 1) < 0.05)
        return np.where(grout, 0.62, 1.0 + 0.06 * fine)
    if name == "bricks":  # 8 rows of staggered bricks
        row = np.floor(y * 8)
        bx = (x * 4 + 0.5 * (row % 2)) % 1
        mortar = ((y * 8) % 1 < 0.1) | (bx < 0.05)
        shade = _value_noise(rng, 8)[(row * SIZE / 8).astype(int) % SIZE, (x * SIZE).astype(int)]
        return np.where(mortar, 0.7, 1.0 + 0.1 * shade + 0.05 * fine)
    if name == "planks":  # boards along x with grain
        board = np.floor(y * 6)
        seam = (y * 6) % 1 < 0.06
        grain = np.sin((x * 40 + 3 * _fractal(rng, 2, 2)) * np.pi) * 0.06
        return np.where(seam, 0.6, 1.0 + grain + 0.08 * np.cos(board * 2.3))
    if name == "gravel":
        return 1.0 + 0.35 * np.sign(fine) * np.abs(fine) ** 0.5
    if name == "stripes":  # 8 hard stripes per repeat
        return np.where((y * 8) % 1 < 0.5, 0.5, 1.35)
    if name == "checker":
        return np.where(((np.floor(x * 4) + np.floor(y * 4)) % 2) == 0, 0.75, 1.2)
    if name == "patches":  # blotches: cow, giraffe, dalmatian
        return np.where(_fractal(rng, 3, 3) > 0.15, 0.35, 1.12)
    raise ValueError(f"no pattern for texture {name!r}")


@lru_cache(maxsize=None)
def texture_stack() -> np.ndarray:
    """uint8 [len(TEXTURES), SIZE, SIZE]; fixed seed so every run and machine draws the same pixels."""
    rng = np.random.default_rng(20260428)
    layers = [np.clip(_pattern(name, rng), 0.0, 1.99) for name in TEXTURES]
    return np.round(np.stack(layers) / 2 * 255).astype(np.uint8)


def texture_index(name: str) -> int:
    return TEXTURES.index(name)
