"""Subject bodies made of skinned 0 A.D. models: the `asset` body model (hmworld.body.BodyModel).

Everything that shapes an asset subject lives here, once: the model placed in the world (scale to the
catalog's height, our axes, the track's heading and position), which cycle plays (walk phase from the
distance walked, the idle cycle cross-faded in when the subject stops) and the skinned vertices. The GPU
renderer (hmworld/render/skinned.py) draws exactly these poses, and the annotations' full boxes and the
compositor's and pre-filter's footprints are computed from the same vertices with the numpy skinning
reference, so boxes, footprints and pixels describe one body.
"""
from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from hmworld.assets.formats import Animation, Mesh, PropPoint, read_pmd, read_psa
from hmworld.assets.skinning import (ZEROAD_TO_LOCAL, animation_pose, blended_pose, inverse_bind, prop_transform,
                                     skin_palette, skin_vertices, walk_weights)
from hmworld.assets.zeroad import (ASSETS, LICENCE, LICENCE_TEXT, MANIFEST, PACKAGE, anim_path, asset_for_subject,
                                   mesh_path, require_cache)
from hmworld.body import BodyModel, PrimitiveBodies
from hmworld.errors import HMWorldError

MAX_BONES = 128  # the vertex shader's bone palette
IDLE_CYCLE_S = 4.0  # an idle animation plays once per this many seconds
WALKING_RATE = 0.02  # walk cycles per second: below this a subject stands (idle animation), above it walks
FOOTPRINT_SAMPLES = 16  # poses per cycle (walk and idle) the footprint covers


@dataclass
class LoadedAsset:
    """CPU side of one asset: mesh, animations, normalisation to a 1-unit-tall model in our axes."""

    mesh: Mesh
    walk: Animation
    idle: Animation
    head: Mesh | None
    head_prop: PropPoint | None
    height: float  # model units from the ground to the top of the head, walk pose at phase 0
    inv_bind: np.ndarray  # [B, 4, 4]

    def pose(self, walk_phase: float, idle_phase: float, walk_weight: float) -> np.ndarray:
        return blended_pose(self.walk, walk_phase, self.idle, idle_phase, walk_weight)

    def skinned_points(self, pose: np.ndarray) -> np.ndarray:
        """Every vertex the renderer draws for this pose (body, then head), model space [V, 3]."""
        pts = skin_vertices(self.mesh, skin_palette(self.mesh, pose, self.inv_bind))
        if self.head is None:
            return pts
        hm = prop_transform(self.head_prop, pose)
        return np.concatenate([pts, self.head.positions @ hm[:3, :3].T + hm[:3, 3]])


def load_asset(cache: Path, name: str) -> LoadedAsset:
    spec = ASSETS[name]
    read = lambda rel: (cache / rel).read_bytes()  # noqa: E731
    mesh = read_pmd(read(mesh_path(spec.mesh)), mesh_path(spec.mesh))
    walk = read_psa(read(anim_path(spec.walk)), anim_path(spec.walk))
    idle = read_psa(read(anim_path(spec.idle)), anim_path(spec.idle))
    for anim in (walk, idle):
        if anim.num_bones < mesh.num_bones:
            raise HMWorldError(f"{name}: animation {anim.name!r} has {anim.num_bones} bones, the mesh {mesh.num_bones}")
    if mesh.num_bones > MAX_BONES:
        raise HMWorldError(f"{name}: {mesh.num_bones} bones, the shader holds {MAX_BONES}")
    head = prop = None
    if spec.head is not None:
        head = read_pmd(read(mesh_path(spec.head.mesh)), mesh_path(spec.head.mesh))
        props = [p for p in mesh.props if p.name == spec.head.prop_point]
        if not props:
            raise HMWorldError(f"{name}: the mesh has no {spec.head.prop_point!r} prop point")
        prop = props[0]
    asset = LoadedAsset(mesh, walk, idle, head, prop, 1.0, inverse_bind(mesh))
    asset.height = float(asset.skinned_points(animation_pose(walk, 0.0))[:, 1].max())
    return asset


@dataclass
class Motion:
    """One subject's asset over a clip: where the model is and which pose it shows, frame by frame."""

    asset: LoadedAsset
    model: np.ndarray  # [F, 4, 4] model -> world (root placement @ axes and scale)
    walk_phase: np.ndarray  # [F] cycles
    walk_weight: np.ndarray  # [F] 0 standing (idle cycle) .. 1 walking, cross-faded
    idle_phase: np.ndarray  # [F] cycles

    def pose(self, f: int) -> np.ndarray:
        return self.asset.pose(self.walk_phase[f], self.idle_phase[f], float(self.walk_weight[f]))

    def world_points(self) -> np.ndarray:
        """[F, V, 3] every drawn vertex in world coordinates (numpy skinning: the GPU's reference)."""
        out = []
        for f in range(len(self.model)):
            pts = self.asset.skinned_points(self.pose(f))
            out.append(pts @ self.model[f, :3, :3].T + self.model[f, :3, 3])
        return np.stack(out)


class AssetBodies(BodyModel):
    """The `asset` body model (the default): subjects with a 0 A.D. model are skinned meshes. Every subject of
    our catalog has one; an entry added with catalog_dirs whose COCO class has none (a cat) keeps its primitive
    body (`fallback`)."""

    style = "asset"

    def __init__(self, catalog, asset_cache: str | None = None):
        self.catalog = catalog
        self.cache = require_cache(asset_cache)
        self.fallback = PrimitiveBodies(catalog)
        self._assets: dict[str, LoadedAsset] = {}
        self._footprints: dict[str, tuple[float, float]] = {}

    def has_asset(self, subject) -> bool:
        return asset_for_subject(subject) is not None

    def asset(self, name: str) -> LoadedAsset:
        if name not in self._assets:
            self._assets[name] = load_asset(self.cache, name)
        return self._assets[name]

    def scale(self, subject) -> float:
        return subject.height / self.asset(asset_for_subject(subject)[0]).height

    def axes(self, subject) -> np.ndarray:
        """Model -> subject frame [3, 3]: our axes, the catalog's height and, for people, their build (the
        catalog's shoulder proportion widens or narrows the body across the heading, 0.92-1.12)."""
        build = float(subject.proportions.get("shoulder", 1.0)) if subject.coco_name == "person" else 1.0
        return np.diag([1.0, build, 1.0]) @ (self.scale(subject) * ZEROAD_TO_LOCAL)

    def motion(self, subject, positions: np.ndarray, headings: np.ndarray, walk_phase: np.ndarray,
               fps: float) -> Motion:
        asset = self.asset(asset_for_subject(subject)[0])
        num_f = len(positions)
        axes = np.eye(4)
        axes[:3, :3] = self.axes(subject)
        root = np.zeros((num_f, 4, 4))
        c, s = np.cos(headings), np.sin(headings)
        root[:, 0, 0], root[:, 0, 1], root[:, 1, 0], root[:, 1, 1] = c, -s, s, c
        root[:, 2, 2] = root[:, 3, 3] = 1.0
        root[:, :3, 3] = positions
        # walking follows the walk phase (it advances with the distance walked, as the primitive limbs do)
        phase = np.asarray(walk_phase, float)
        rate = np.abs(np.diff(phase)) * fps
        rate = np.concatenate([rate[:1], rate]) if len(rate) else np.zeros(num_f)
        return Motion(asset, root @ axes, phase, walk_weights(rate > WALKING_RATE, fps),
                      np.arange(num_f) / (fps * IDLE_CYCLE_S))

    # ------------------------------------------------------------------------ hmworld.body.BodyModel
    def primitive_body(self, name: str):
        return None if self.has_asset(self.catalog.subjects[name]) else self.fallback.body(name)

    def footprint_half_axes(self, subject) -> tuple[float, float]:
        """Half-extents (along the heading, across) of every vertex over the walk and the idle cycles."""
        if not self.has_asset(subject):
            return self.fallback.footprint_half_axes(subject)
        if subject.name not in self._footprints:
            asset = self.asset(asset_for_subject(subject)[0])
            phases = np.arange(FOOTPRINT_SAMPLES) / FOOTPRINT_SAMPLES
            poses = [asset.pose(p, 0.0, 1.0) for p in phases] + [asset.pose(0.0, p, 0.0) for p in phases]
            pts = np.concatenate([asset.skinned_points(p) for p in poses]) @ self.axes(subject).T
            self._footprints[subject.name] = (float(np.abs(pts[:, 0]).max()), float(np.abs(pts[:, 1]).max()))
        return self._footprints[subject.name]

    def world_points(self, subject, positions, headings, walk_phase, fps: float) -> np.ndarray:
        if not self.has_asset(subject):
            return self.fallback.world_points(subject, positions, headings, walk_phase, fps)
        return self.motion(subject, positions, headings, walk_phase, fps).world_points()

    def provenance(self) -> dict:
        return art_provenance(self.cache)


def art_provenance(cache: Path) -> dict:
    """The art the asset cache holds, for split.json: package, version, licence and the credit to give (the
    asset subjects and the asset scenery draw from the same package)."""
    manifest = json.loads((cache / MANIFEST).read_text())
    return {"packages": [{
        "package": manifest.get("package", PACKAGE), "version": manifest.get("version"),
        "licence": manifest.get("licence", LICENCE),
        "licence_url": "https://creativecommons.org/licenses/by-sa/3.0/",
        "attribution": manifest.get("licence_text", LICENCE_TEXT),
        "share_alike": "frames rendered with this art are adaptations: share them under CC-BY-SA 3.0 or a "
                       "compatible licence, crediting Wildfire Games / 0 A.D.",
        "files": len(manifest.get("files", {})),
    }]}
