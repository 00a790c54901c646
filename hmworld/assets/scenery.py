"""0 A.D. scenery for `renderer.props_style=asset`: terrain textures for the ground and static meshes (trees,
bushes, rocks, crates, barrels, carts, columns, fences) for the scene's props, and the occluder geometry the
compositor and the pre-filter use, computed from the meshes themselves.

A scene's props keep their place, yaw and size box from render_configs/scene/*.yaml; each is drawn as the
mesh its `asset:` key names (else one chosen by its shape, by its index in the scene), scaled uniformly to fit
inside the size box, standing on the ground. Its footprint is the minimum-area rectangle around the mesh's
vertices projected on the ground (an oriented box), its height the mesh's top: both are computed once per
asset from the vertices, deterministic. The ground's terrain comes from the scene's `ground.terrain` key
(else one chosen by the ground's procedural texture).
"""
from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from hmworld.assets.formats import Mesh, read_pmd
from hmworld.assets.skinning import ZEROAD_TO_LOCAL
from hmworld.assets.zeroad import mesh_path, require_cache, texture_path
from hmworld.catalog import Catalog, Prop, SceneSpec
from hmworld.errors import ConfigError, HMWorldError

PROPS_STYLES = ("primitive", "asset")
ROUND_DIGITS = 6  # placed props' numbers (metres, radians, matrix entries)


def terrain_path(name: str) -> str:
    return f"art/textures/terrain/types/{name}.cached.dds"


@dataclass(frozen=True)
class PropAsset:
    """A static 0 A.D. mesh (no bones) and its colour texture. material "alpha": texels with alpha below one
    half are cut out (leaves, needles: 0 A.D.'s basic_trans), in the id and depth pass too; "opaque": as is."""

    mesh: str
    texture: str
    material: str = "opaque"

    def files(self) -> list[str]:
        return [mesh_path(self.mesh), texture_path(self.texture)]


@dataclass(frozen=True)
class Terrain:
    """A tileable 0 A.D. terrain texture and the metres one repeat covers on the ground."""

    texture: str
    tile_m: float = 4.0

    def files(self) -> list[str]:
        return [terrain_path(self.texture)]


PROP_ASSETS: dict[str, PropAsset] = {
    "oak": PropAsset("gaia/oak_tree_a", "gaia/oak_tree_a.png", "alpha"),
    "birch": PropAsset("gaia/euro_birch_03", "gaia/birch_tree_02.png", "alpha"),
    "fir": PropAsset("gaia/fir_tree_tall_2", "gaia/tree_fir_tall_1.png", "alpha"),
    "bush": PropAsset("gaia/bush_me_1", "gaia/bush_medit_b.dds", "alpha"),
    "rock": PropAsset("gaia/stone_granite_me_d", "gaia/stone_granite.dds"),
    "boulder": PropAsset("gaia/stone_granite_me_e", "gaia/stone_granite.dds"),
    "crate": PropAsset("props/wrld_crate_a", "props/celt_prop_1.png"),
    "barrel": PropAsset("props/wrld_barrel_a", "props/celt_prop_1.png"),
    "handcart": PropAsset("props/wrld_handcart", "props/wood_a.png"),
    "column": PropAsset("props/column_doric", "props/hele_props_a.dds"),
    "fence": PropAsset("props/shared_corral_fence", "gaia/wrld_prop_1.dds"),
}
# A prop without an `asset:` key: the shape's list, cycled by the prop's index in the scene (deterministic).
DEFAULT_BY_SHAPE: dict[str, tuple[str, ...]] = {
    "tree": ("oak", "birch", "fir"), "rock": ("rock", "boulder"), "box": ("crate",),
    "cylinder": ("barrel",), "pillar": ("column",),
}
TERRAINS: dict[str, Terrain] = {
    "grass": Terrain("new_alpine_grass_b.dds"),
    "meadow_flowers": Terrain("medit_grass_flowers.dds"),
    "savanna_grass": Terrain("new_savanna_grass_b.dds"),
    "forest_floor": Terrain("forestfloor_dirty.png"),
    "pavement": Terrain("medit_city_pavement.png", 3.0),
    "cobbles": Terrain("medit_city_tile.dds", 3.0),
    "plaza_tiles": Terrain("desert_city_tile_plaza.dds", 3.0),
    "sand": Terrain("sand.dds", 6.0),
    "gravel": Terrain("temp_dirt_gravel.dds"),
    "asphalt": Terrain("road_roman.png"),
    "planks": Terrain("bridge_wood_a.png", 3.0),
    "snow": Terrain("polar_snow_a.dds", 6.0),
}
# A scene without `ground.terrain`: by its ground's procedural texture
DEFAULT_TERRAIN = {"grass": "grass", "tiles": "cobbles", "checker": "plaza_tiles", "planks": "planks",
                   "gravel": "gravel", "bricks": "cobbles"}
FALLBACK_TERRAIN = "gravel"


def scenery_files() -> list[str]:
    """Every cache file the asset scenery reads (part of `hmworld assets`' subset)."""
    out = {f for a in PROP_ASSETS.values() for f in a.files()} | {f for t in TERRAINS.values() for f in t.files()}
    return sorted(out)


# ------------------------------------------------------------------------------------------- geometry
def min_area_rectangle(points: np.ndarray) -> tuple[np.ndarray, np.ndarray, float]:
    """(centre [2], half-extents [2], angle) of the smallest-area rectangle around 2-D points: one of its sides
    lies along an edge of their convex hull (rotating calipers, tried edge by edge). Ties keep the first edge
    in the hull's order, so the result is deterministic."""
    hull = convex_hull(points)
    best = None
    for i in range(len(hull)):
        e = hull[(i + 1) % len(hull)] - hull[i]
        norm = float(np.hypot(*e))
        if norm < 1e-9:
            continue
        angle = float(np.arctan2(e[1], e[0]))
        c, s = np.cos(angle), np.sin(angle)
        local = hull @ np.array([[c, -s], [s, c]])  # coordinates along (e, e rotated 90 degrees)
        lo, hi = local.min(0), local.max(0)
        area = float(np.prod(hi - lo))
        if best is None or area < best[0] - 1e-12:
            centre_local = (lo + hi) / 2
            centre = np.array([[c, -s], [s, c]]) @ centre_local
            best = (area, centre, (hi - lo) / 2, angle)
    if best is None:  # all points coincide
        return points[0].astype(float), np.zeros(2), 0.0
    return best[1], best[2], best[3]


def _turn(o: np.ndarray, a: np.ndarray, b: np.ndarray) -> float:
    """z of (a - o) x (b - o): > 0 when o -> a -> b turns counter-clockwise."""
    return float((a[0] - o[0]) * (b[1] - o[1]) - (a[1] - o[1]) * (b[0] - o[0]))


def convex_hull(points: np.ndarray) -> np.ndarray:
    """Counter-clockwise convex hull of 2-D points (Andrew's monotone chain), no repeated end point."""
    pts = np.unique(np.round(np.asarray(points, float), 9), axis=0)  # sorted by x, then y
    if len(pts) <= 2:
        return pts

    def half(seq):
        out: list[np.ndarray] = []
        for p in seq:
            while len(out) >= 2 and _turn(out[-2], out[-1], p) <= 0:
                out.pop()
            out.append(p)
        return out

    lower, upper = half(pts), half(pts[::-1])
    return np.array(lower[:-1] + upper[:-1])


@dataclass(frozen=True)
class MeshFootprint:
    """A mesh in our axes (x forward, y left, z up), unscaled model units: the oriented box of its vertices on
    the ground (centre, half-extents, angle), its lowest and highest point and its axis-aligned extents."""

    centre: tuple[float, float]
    half: tuple[float, float]
    angle: float
    z_min: float
    z_max: float
    extent: tuple[float, float, float]

    @classmethod
    def of(cls, mesh: Mesh) -> "MeshFootprint":
        pts = mesh.positions.astype(np.float64) @ ZEROAD_TO_LOCAL.T
        centre, half, angle = min_area_rectangle(pts[:, :2])
        ext = pts.max(0) - pts.min(0)
        return cls((float(centre[0]), float(centre[1])), (float(half[0]), float(half[1])), angle,
                   float(pts[:, 2].min()), float(pts[:, 2].max()), (float(ext[0]), float(ext[1]), float(ext[2])))


@dataclass(frozen=True)
class MeshProp(Prop):
    """A prop drawn as a 0 A.D. mesh (props_style=asset). `size` is the placed mesh's extents (so size[2] is its
    height, as the pre-filter reads it); `box` its footprint in the world: centre x, y, half-extents and angle
    (radians); `model` is the mesh -> world matrix (row-major, 16 numbers). In the repr: the catalog digest, and
    so the split's identity, records which meshes stand where."""

    mesh: str = ""
    scale: float = 1.0
    box: tuple[float, float, float, float, float] = (0.0, 0.0, 0.0, 0.0, 0.0)
    model: tuple[float, ...] = ()

    @property
    def footprint_radius(self) -> float:
        """Radius around `position` that holds the whole footprint box (the bounding circle)."""
        cx, cy, hx, hy, _ = self.box
        return float(np.hypot(cx - self.position[0], cy - self.position[1]) + np.hypot(hx, hy))


@dataclass(frozen=True)
class AssetScene(SceneSpec):
    """A scene whose ground is a 0 A.D. terrain texture (`terrain_texture`, one repeat per `terrain_tile_m`)."""

    terrain_texture: str = ""
    terrain_tile_m: float = 4.0


def prop_asset_name(scene_name: str, index: int, prop: Prop) -> str:
    if prop.asset:
        if prop.asset not in PROP_ASSETS:
            raise ConfigError(f"scene {scene_name!r} prop {index}: unknown asset {prop.asset!r}; "
                              f"known: {sorted(PROP_ASSETS)}")
        return prop.asset
    if prop.shape == "box":  # a long box is a cart, a squarish one a crate
        sx, sy = prop.size[:2]
        return "handcart" if max(sx, sy) > 1.5 * min(sx, sy) else "crate"
    options = DEFAULT_BY_SHAPE[prop.shape]
    return options[index % len(options)]


def terrain_name(scene: SceneSpec) -> str:
    if scene.terrain:
        if scene.terrain not in TERRAINS:
            raise ConfigError(f"scene {scene.name!r}: unknown ground.terrain {scene.terrain!r}; "
                              f"known: {sorted(TERRAINS)}")
        return scene.terrain
    return DEFAULT_TERRAIN.get(scene.ground.texture, FALLBACK_TERRAIN)


class Scenery:
    """Loads the asset scenery's meshes once per cache and turns catalog scenes into asset scenes."""

    def __init__(self, asset_cache: str | None = None):
        self.cache: Path = require_cache(asset_cache)
        self._meshes: dict[str, Mesh] = {}
        self._footprints: dict[str, MeshFootprint] = {}

    def mesh(self, name: str) -> Mesh:
        if name not in self._meshes:
            rel = mesh_path(PROP_ASSETS[name].mesh)
            path = self.cache / rel
            if not path.is_file():  # require_cache checked the manifest; a file removed since is still named
                raise HMWorldError(f"asset file {path} is missing; reinstall the cache with `hmworld assets`")
            mesh = read_pmd(path.read_bytes(), rel)
            if mesh.num_bones:
                raise HMWorldError(f"{rel}: scenery meshes must be static, this one has {mesh.num_bones} bones")
            self._meshes[name] = mesh
        return self._meshes[name]

    def footprint(self, name: str) -> MeshFootprint:
        if name not in self._footprints:
            self._footprints[name] = MeshFootprint.of(self.mesh(name))
        return self._footprints[name]

    def place(self, scene_name: str, index: int, prop: Prop) -> MeshProp:
        """The prop as its mesh: scaled uniformly to fit inside the prop's size box (in the prop's frame, so
        the scenes' layouts keep clear of each other and of the walls), its footprint centred where the
        primitive stood, its lowest point on the ground, turned by the prop's yaw. Foliage (alpha-tested
        meshes) takes the size's height only: a tree's crown is wider than the primitive cone it replaces,
        and its footprint, which placement and occlusion use, grows with it."""
        name = prop_asset_name(scene_name, index, prop)
        fp = self.footprint(name)
        sx, sy, sz = prop.size
        half, angle = fp.half, fp.angle
        if (half[0] >= half[1]) != (sx >= sy):  # the footprint's long side along the size's long side
            half, angle = (half[1], half[0]), angle + np.pi / 2
        scale = sz / max(fp.z_max - fp.z_min, 1e-6)
        if PROP_ASSETS[name].material != "alpha":  # the oriented box (along its own axes) inside the size box
            scale = min(scale, sx / max(2 * half[0], 1e-6), sy / max(2 * half[1], 1e-6))
        yaw = np.radians(prop.yaw_deg)
        rot = np.array([[np.cos(yaw), -np.sin(yaw)], [np.sin(yaw), np.cos(yaw)]])
        # the box's own axes line up with the prop's: turn the mesh by -angle first, then by the yaw
        a = -angle
        align = np.array([[np.cos(a), -np.sin(a)], [np.sin(a), np.cos(a)]])
        turn = rot @ align
        centre_local = turn @ (scale * np.asarray(fp.centre))
        shift = np.asarray(prop.position) - centre_local
        model = np.eye(4)
        model[:2, :2] = turn
        model[:3, :3] = model[:3, :3] @ (scale * ZEROAD_TO_LOCAL)
        model[:2, 3] = shift
        model[2, 3] = -scale * fp.z_min
        box = (float(prop.position[0]), float(prop.position[1]), scale * half[0], scale * half[1], float(yaw))
        size = (2 * box[2], 2 * box[3], scale * (fp.z_max - fp.z_min))
        # rounded to a micrometre: the values enter the catalog digest (the split's identity), which shards
        # rendered on different machines must agree on whatever their libm's last bits
        r = lambda values: tuple(round(float(x), ROUND_DIGITS) for x in values)  # noqa: E731
        return MeshProp(prop.shape, prop.position, r(size), prop.material, prop.yaw_deg, name, name,
                        round(float(scale), ROUND_DIGITS), r(box), r(model.reshape(-1)))

    def scene(self, scene: SceneSpec) -> AssetScene:
        if isinstance(scene, AssetScene):
            return scene
        terrain = TERRAINS[terrain_name(scene)]
        props = tuple(self.place(scene.name, i, p) for i, p in enumerate(scene.props))
        fields = {f.name: getattr(scene, f.name) for f in dataclasses.fields(SceneSpec)}
        fields["props"] = props
        return AssetScene(**fields, terrain_texture=terrain.texture, terrain_tile_m=terrain.tile_m)

    def catalog(self, catalog: Catalog) -> Catalog:
        """A copy of the catalog whose scenes are asset scenes (everything else shared)."""
        return dataclasses.replace(catalog, scenes={k: self.scene(s) for k, s in catalog.scenes.items()})


def check_props_style(style: str) -> str:
    if style not in PROPS_STYLES:
        raise ConfigError(f"renderer.props_style must be one of {list(PROPS_STYLES)}, got {style!r}")
    return style


def scenery_catalog(catalog: Catalog, props_style: str = "primitive", asset_cache: str | None = None) -> Catalog:
    """The catalog as `renderer.props_style` draws it: unchanged for `primitive`; asset scenes for `asset`
    (AssetsMissing, naming `hmworld assets`, when the cache lacks them)."""
    if check_props_style(props_style) == "primitive":
        return catalog
    return Scenery(asset_cache).catalog(catalog)


def scenery_catalog_from_config(renderer_cfg, catalog: Catalog) -> Catalog:
    """From the `renderer` config group (props_style; runtime.asset_cache). Backends without the key
    (unrealcv) keep the primitive props: their levels bring their own scenery."""
    runtime = renderer_cfg.get("runtime") or {}
    return scenery_catalog(catalog, str(renderer_cfg.get("props_style", "primitive")), runtime.get("asset_cache"))


def scenery_provenance(renderer_cfg) -> dict | None:
    """split.json's `assets` record when the scenery (and not already the subjects) draws the 0 A.D. art."""
    if str(renderer_cfg.get("props_style", "primitive")) != "asset":
        return None
    from hmworld.assets.bodies import art_provenance

    runtime = renderer_cfg.get("runtime") or {}
    return art_provenance(require_cache(runtime.get("asset_cache")))
