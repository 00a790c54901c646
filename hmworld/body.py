"""Articulated subject bodies built from primitives (humanoid, quadruped and bird plans).

A body is a list of parts. Each part is a unit primitive placed by a rest transform and, for limbs, swung
about a joint by an angle that follows the walk phase (cycles completed, so limbs stop when the subject
stops). `posed_transforms` gives every part's world transform for every frame at once; the renderer draws
them and the box annotations project the same primitives, so both always agree.
Local subject frame: x forward, y left, z up, origin on the ground under the body's centre.
BodyModel (end of this module) is the one interface the renderer, the annotations and the compositor share:
`primitive` draws these bodies, `asset` skinned 0 A.D. models (hmworld.assets.bodies).
"""
from __future__ import annotations

import abc
from dataclasses import dataclass

import numpy as np

from hmworld.catalog import SubjectSpec
from hmworld.geometry import axis_rotation, yaw_rotation
from hmworld.primitives import unit_vertices


@dataclass(frozen=True)
class Part:
    primitive: str  # "cube" | "sphere" | "cylinder" | "cone"
    center: tuple[float, float, float]
    size: tuple[float, float, float]
    color: str  # key into SubjectSpec.colors
    pitch: float = 0.0  # rest rotation about the local y axis (radians)
    pivot: tuple[float, float, float] | None = None  # joint for swinging
    swing: float = 0.0  # amplitude (radians) of the swing about local y
    phase: float = 0.0  # phase offset of the swing, in cycles
    axis: str = "y"


def _rest_matrix(part: Part) -> np.ndarray:
    m = np.eye(4)
    m[:3, :3] = axis_rotation("y", part.pitch) @ np.diag(part.size)
    m[:3, 3] = part.center
    return m


def _humanoid(s: SubjectSpec) -> list[Part]:
    h, pr = s.height, s.proportions
    legs = 0.46 * h * pr.get("legs", 1.0)
    torso = 0.31 * h
    sh = 0.13 * h * pr.get("shoulder", 1.0)
    head = 0.125 * h
    hip_y = 0.055 * h
    torso_top = legs + torso
    parts = []
    for side, ph in ((1, 0.0), (-1, 0.5)):
        hip = (0.0, side * hip_y, legs)
        parts.append(Part("cube", (0.0, side * hip_y, legs / 2 + 0.02 * h), (0.085 * h, 0.085 * h, legs - 0.04 * h),
                          "bottom", pivot=hip, swing=0.45, phase=ph))
        parts.append(Part("cube", (0.03 * h, side * hip_y, 0.02 * h), (0.15 * h, 0.075 * h, 0.04 * h), "shoes",
                          pivot=hip, swing=0.45, phase=ph))
        shoulder = (0.0, side * (sh + 0.03 * h), torso_top - 0.03 * h)
        parts.append(Part("cube", (0.0, shoulder[1], torso_top - 0.03 * h - 0.15 * h), (0.065 * h, 0.065 * h, 0.3 * h),
                          "top", pivot=shoulder, swing=0.35, phase=ph + 0.5))
        parts.append(Part("sphere", (0.0, shoulder[1], torso_top - 0.03 * h - 0.32 * h), (0.07 * h,) * 3, "skin",
                          pivot=shoulder, swing=0.35, phase=ph + 0.5))
    parts.append(Part("cube", (0.0, 0.0, legs + torso / 2), (0.14 * h, 2 * sh, torso), "top"))
    if pr.get("dress", 0.0) > 0:
        parts.append(Part("cylinder", (0.0, 0.0, legs - 0.1 * h), (0.26 * h, 0.3 * h, 0.24 * h), "bottom"))
    parts.append(Part("cylinder", (0.0, 0.0, torso_top + 0.02 * h), (0.06 * h, 0.06 * h, 0.05 * h), "skin"))
    head_c = (0.0, 0.0, torso_top + 0.04 * h + head / 2)
    parts.append(Part("sphere", head_c, (0.11 * h, 0.1 * h, head), "skin"))
    if pr.get("hair", 0.5) > 0.25:
        parts.append(Part("sphere", (-0.012 * h, 0.0, head_c[2] + 0.025 * h), (0.115 * h, 0.108 * h, 0.09 * h), "hair"))
    return parts


def _quadruped(s: SubjectSpec) -> list[Part]:
    L, pr = s.length, s.proportions
    body_l = 0.62 * L
    body_t = 0.3 * L * pr.get("body", 1.0) * 0.8
    width = 0.55 * body_t
    leg = 0.42 * L * pr.get("legs", 1.0)
    neck_l = 0.28 * L * pr.get("neck", 1.0)
    neck_pitch = -np.radians(55.0 if pr.get("neck", 1.0) < 2.0 else 72.0)  # negative pitch tips +x upwards
    body_z = leg + body_t / 2
    parts = [Part("cube", (0.0, 0.0, body_z), (body_l, width * 1.6, body_t), "body")]
    leg_w = 0.2 * body_t * max(1.0, pr.get("legs", 1.0) * 0.9) if pr.get("trunk") else 0.16 * body_t
    for fx, lx in ((1, 0.38), (-1, -0.38)):
        for side in (1, -1):
            ph = 0.0 if fx * side > 0 else 0.5  # diagonal pairs move together
            top = (lx * body_l, side * width * 0.55, leg + 0.05 * body_t)
            parts.append(Part("cube", (top[0], top[1], leg / 2 + 0.03 * leg), (leg_w, leg_w, leg * 0.94), "body",
                              pivot=top, swing=0.42, phase=ph))
            parts.append(Part("cube", (top[0] + 0.01 * L, top[1], 0.035 * leg), (leg_w * 1.15, leg_w * 1.1, 0.07 * leg),
                              "accent", pivot=top, swing=0.42, phase=ph))
    base = np.array([0.5 * body_l, 0.0, body_z + 0.2 * body_t])
    direction = np.array([np.cos(neck_pitch), 0.0, -np.sin(neck_pitch)])
    neck_c = base + direction * neck_l / 2
    parts.append(Part("cube", tuple(neck_c), (neck_l, 0.4 * body_t, 0.4 * body_t), "body", pitch=neck_pitch))
    head_c = base + direction * neck_l + np.array([0.12 * L, 0.0, 0.0])
    head_size = (0.32 * L * 0.8, 0.38 * body_t, 0.36 * body_t)
    parts.append(Part("cube", tuple(head_c), head_size, "body", pitch=0.25,
                      pivot=tuple(base), swing=0.06, phase=0.25))
    for side in (1, -1):  # ears
        parts.append(Part("cube", (head_c[0] - 0.1 * head_size[0], side * 0.2 * body_t, head_c[2] + 0.22 * body_t),
                          (0.05 * L, 0.08 * body_t, 0.14 * body_t), "accent", pivot=tuple(base), swing=0.06, phase=0.25))
    if pr.get("trunk", 0.0) > 0:
        tl = 0.9 * leg * pr["trunk"]
        parts.append(Part("cube", (head_c[0] + 0.45 * head_size[0], 0.0, head_c[2] - tl / 2), (0.12 * body_t, 0.12 * body_t, tl),
                          "accent", pivot=(head_c[0] + 0.45 * head_size[0], 0.0, head_c[2]), swing=0.15, phase=0.1))
    tail_l = 0.3 * L * pr.get("tail", 1.0)
    tail_root = (-0.5 * body_l, 0.0, body_z + 0.3 * body_t)
    parts.append(Part("cube", (tail_root[0] - 0.4 * tail_l, 0.0, tail_root[2] - 0.35 * tail_l), (tail_l, 0.07 * body_t, 0.07 * body_t),
                      "accent", pitch=np.radians(-40), pivot=tail_root, swing=0.3, phase=0.0, axis="z"))
    return parts


def _bird(s: SubjectSpec) -> list[Part]:
    L, pr = s.length, s.proportions
    leg = 0.5 * L * pr.get("legs", 1.0)
    body = (0.8 * L, 0.5 * L, 0.45 * L)
    body_z = leg + 0.4 * body[2]
    neck_l = 0.55 * L * pr.get("neck", 1.0)
    parts = [Part("sphere", (0.0, 0.0, body_z), body, "body")]
    for side, ph in ((1, 0.0), (-1, 0.5)):
        hip = (0.0, side * 0.12 * L, body_z - 0.2 * body[2])
        parts.append(Part("cylinder", (0.0, hip[1], hip[2] / 2), (0.05 * L, 0.05 * L, hip[2]), "accent",
                          pivot=hip, swing=0.5, phase=ph))
        parts.append(Part("cube", (0.05 * L, hip[1], 0.015 * L), (0.16 * L, 0.08 * L, 0.03 * L), "accent",
                          pivot=hip, swing=0.5, phase=ph))
        parts.append(Part("cube", (-0.05 * L, side * 0.27 * L, body_z + 0.05 * L), (0.55 * L, 0.06 * L, 0.28 * L), "body",
                          pivot=(0.0, side * 0.2 * L, body_z + 0.1 * L), swing=0.25, phase=ph, axis="x"))
    neck_base = np.array([0.32 * L, 0.0, body_z + 0.1 * L])
    parts.append(Part("cylinder", tuple(neck_base + [0.05 * L, 0.0, neck_l / 2]), (0.09 * L, 0.09 * L, neck_l), "body",
                      pitch=0.15))
    head_c = neck_base + [0.12 * L, 0.0, neck_l + 0.05 * L]
    parts.append(Part("sphere", tuple(head_c), (0.2 * L, 0.15 * L, 0.15 * L), "body", pivot=tuple(neck_base), swing=0.05))
    parts.append(Part("cube", tuple(head_c + [0.14 * L, 0.0, -0.01 * L]), (0.14 * L, 0.06 * L, 0.05 * L), "accent",
                      pivot=tuple(neck_base), swing=0.05))
    return parts


_PLANS = {"humanoid": _humanoid, "quadruped": _quadruped, "bird": _bird}


class Body:
    """Parts of one subject, uniformly scaled so the standing height equals the catalog's height."""

    def __init__(self, subject: SubjectSpec):
        self.subject = subject
        self.parts = _PLANS[subject.body_plan](subject)
        rest = np.stack([_rest_matrix(p) for p in self.parts])
        top = max(float((rest[i, :3, :3] @ unit_vertices(p.primitive).T + rest[i, :3, 3:4])[2].max())
                  for i, p in enumerate(self.parts))
        self.scale = subject.height / top
        scale = np.diag([self.scale] * 3 + [1.0])
        self.rest = scale @ rest
        self.pivots = np.array([p.pivot if p.pivot is not None else (0, 0, 0) for p in self.parts], float) * self.scale
        self.swing = np.array([p.swing if p.pivot is not None else 0.0 for p in self.parts])
        self.phase = np.array([p.phase for p in self.parts])
        self.axes = [p.axis for p in self.parts]

    def posed_transforms(self, positions: np.ndarray, headings: np.ndarray, walk_phase: np.ndarray) -> np.ndarray:
        """World transforms [F, P, 4, 4] of every part at every frame."""
        angle = self.swing[None, :] * np.sin(2 * np.pi * (walk_phase[:, None] + self.phase[None, :]))  # [F, P]
        num_f, num_p = angle.shape
        joint = np.zeros((num_f, num_p, 3, 3))
        for axis in set(self.axes):
            sel = np.array([a == axis for a in self.axes])
            joint[:, sel] = axis_rotation(axis, angle[:, sel])
        # local = T(pivot) R T(-pivot) rest
        local = np.zeros((num_f, num_p, 4, 4))
        local[..., :3, :3] = joint @ self.rest[None, :, :3, :3]
        local[..., :3, 3] = np.einsum("fpij,pj->fpi", joint, self.rest[:, :3, 3] - self.pivots) + self.pivots
        local[..., 3, 3] = 1.0
        root = np.zeros((num_f, 4, 4))
        root[:, :3, :3] = yaw_rotation(headings)
        root[:, :3, 3] = positions
        root[:, 3, 3] = 1.0
        return root[:, None] @ local

    def primitive_names(self) -> list[str]:
        return [p.primitive for p in self.parts]

    def footprint_half_axes(self, samples: int = 16) -> tuple[float, float]:
        """(along the heading, across) half-extents in metres of everything the body reaches over a walk cycle:
        the silhouette the pan timing and the pre-filter must clear for the subject to be out of view."""
        phase = np.linspace(0.0, 1.0, samples, endpoint=False)
        pts = self.world_points(self.posed_transforms(np.zeros((samples, 3)), np.zeros(samples), phase))
        return float(np.abs(pts[..., 0]).max()), float(np.abs(pts[..., 1]).max())

    def world_points(self, transforms: np.ndarray) -> np.ndarray:
        """[F, V, 3] the vertices of every part, placed by `transforms` [F, P, 4, 4] (posed_transforms)."""
        return np.concatenate([np.einsum("fij,vj->fvi", transforms[:, i, :3, :3], unit_vertices(prim))
                               + transforms[:, i, None, :3, 3] for i, prim in enumerate(self.primitive_names())],
                              axis=1)

    def colors(self) -> np.ndarray:
        return np.array([self.subject.colors.get(p.color, self.subject.colors.get("body", (0.5, 0.5, 0.5)))
                         for p in self.parts], float)

    def textures(self) -> list[str]:
        """Texture per part: the catalog names textures per colour slot ("top", "body", ...)."""
        return [self.subject.textures.get(p.color, "flat") for p in self.parts]


_FOOTPRINTS: dict[tuple, tuple[float, float]] = {}


def footprint_half_axes(subject: SubjectSpec) -> tuple[float, float]:
    """Body.footprint_half_axes, computed once per body geometry (the compositor asks for every candidate)."""
    key = (subject.body_plan, subject.height, subject.length, tuple(sorted(subject.proportions.items())))
    if key not in _FOOTPRINTS:
        _FOOTPRINTS[key] = Body(subject).footprint_half_axes()
    return _FOOTPRINTS[key]


SUBJECT_STYLES = ("primitive", "asset")


class BodyModel(abc.ABC):
    """What a subject's body is, for everything that must agree on it: the renderer draws it, the annotations
    project its vertices into the full `box`, and the compositor's pan timing and the pre-filter clear its
    footprint. Chosen once per split by `renderer.subjects_style` (body_model): `primitive` (Body, this
    module) or `asset` (skinned 0 A.D. models, hmworld.assets.bodies)."""

    style: str

    @abc.abstractmethod
    def footprint_half_axes(self, subject: SubjectSpec) -> tuple[float, float]:
        """(along the heading, across) half-extents in metres of everything the body reaches while it walks
        or stands, origin under the body, heading along +x."""

    @abc.abstractmethod
    def world_points(self, subject: SubjectSpec, positions: np.ndarray, headings: np.ndarray,
                     walk_phase: np.ndarray, fps: float) -> np.ndarray:
        """[F, V, 3] world points whose projection bounds what the renderer draws of the subject, per frame."""

    @abc.abstractmethod
    def primitive_body(self, name: str) -> "Body | None":
        """The primitive Body the renderer draws for this subject, None where the model draws it otherwise."""

    def provenance(self) -> dict | None:
        """Third-party art the model draws (packages, licences, credit) for split.json; None: our own."""
        return None


class PrimitiveBodies(BodyModel):
    """The `primitive` body model: unions of unit primitives (Body), our own geometry."""

    style = "primitive"

    def __init__(self, catalog):
        self.catalog = catalog
        self._bodies: dict[str, Body] = {}

    def body(self, name: str) -> Body:
        if name not in self._bodies:
            self._bodies[name] = Body(self.catalog.subjects[name])
        return self._bodies[name]

    primitive_body = body

    def footprint_half_axes(self, subject: SubjectSpec) -> tuple[float, float]:
        return footprint_half_axes(subject)

    def world_points(self, subject, positions, headings, walk_phase, fps):
        body = self.body(subject.name)
        return body.world_points(body.posed_transforms(positions, headings, walk_phase))


def body_model(catalog, subjects_style: str = "primitive", asset_cache: str | None = None) -> BodyModel:
    """The body model for `renderer.subjects_style`; `asset` needs the asset cache (AssetsMissing names the
    command that installs it)."""
    from hmworld.errors import ConfigError

    if subjects_style not in SUBJECT_STYLES:
        raise ConfigError(f"renderer.subjects_style must be one of {list(SUBJECT_STYLES)}, got {subjects_style!r}")
    if subjects_style == "asset":
        from hmworld.assets.bodies import AssetBodies

        return AssetBodies(catalog, asset_cache)
    return PrimitiveBodies(catalog)


def body_model_from_config(renderer_cfg, catalog) -> BodyModel:
    """From the `renderer` config group (subjects_style; runtime.asset_cache). Backends without the key
    (unrealcv) draw their own bodies; their boxes and footprints keep the primitive model."""
    runtime = renderer_cfg.get("runtime") or {}
    return body_model(catalog, str(renderer_cfg.get("subjects_style", "primitive")), runtime.get("asset_cache"))
