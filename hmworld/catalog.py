"""The catalog: scenes, subjects, subject trajectories and camera trajectories, loaded from render_configs/.

Each entry is one YAML file in its Hydra config group folder (`render_configs/scene/<name>.yaml`, ...); the
file name is the entry's name. `partition/<train|test>.yaml` lists which scenes and subjects a partition may
use. Entries are validated when loaded, so a bad catalog fails before anything is sampled or rendered.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any, Mapping, Sequence

import yaml

from hmworld.errors import ConfigError
from hmworld.tracking import TRACK_MODES

# Catalog entries are plain data (no interpolation), so the C YAML loader is enough and ~15x faster than
# OmegaConf for the ~100 files read at every start.
_Loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


def _load_yaml(path: Path) -> dict:
    try:
        with open(path, encoding="utf-8") as f:
            data = yaml.load(f, Loader=_Loader)
    except yaml.YAMLError as exc:
        raise ConfigError(f"{path}: invalid YAML ({exc})") from exc
    if not isinstance(data, dict):
        raise ConfigError(f"{path}: expected a mapping of fields")
    return data

COCO_CLASSES = {
    "person": 0, "bird": 14, "cat": 15, "dog": 16, "horse": 17, "sheep": 18,
    "cow": 19, "elephant": 20, "bear": 21, "zebra": 22, "giraffe": 23,
}
BODY_PLANS = ("humanoid", "quadruped", "bird")
PROP_SHAPES = ("box", "cylinder", "tree", "rock", "pillar")
TEXTURES = ("flat", "noise", "tiles", "bricks", "planks", "gravel", "stripes", "checker", "patches", "grass")
SUBJECT_TRAJECTORY_TYPES = (
    "straight", "arc", "circle", "zigzag", "out_and_back", "stop_and_go", "figure_eight", "waypoints",
    "spiral", "wander", "turn",
)
CAMERA_MOTIONS = ("pan", "tilt", "truck", "dolly", "crane", "orbit", "roll")
CAMERA_PROFILES = ("away_back", "away_hold_back", "swing", "late_return", "early_return", "double")
# "free": a sum of motions around a start pose (the first wave's catalog); "track": a tracking shot modelled on
# HM-World (hmworld/tracking.py), whose distributions live in render.yaml's `tracking:` block.
CAMERA_KINDS = ("free", "track")


@dataclass(frozen=True)
class Material:
    color: tuple[float, float, float]
    texture: str = "flat"
    texture_scale: float = 1.0  # pattern repeats per metre


@dataclass(frozen=True)
class Prop:
    """A static occluder. `size` is (x, y, z) extents in metres; footprint radius is derived from it."""

    shape: str
    position: tuple[float, float]
    size: tuple[float, float, float]
    material: Material
    yaw_deg: float = 0.0
    # props_style=asset: the 0 A.D. mesh drawn here (hmworld.assets.scenery; "" picks one by shape). Out of the
    # repr (the catalog digest): primitive splits keep their identity; asset scenes record the mesh themselves
    asset: str = field(default="", repr=False, compare=False)

    @property
    def footprint_radius(self) -> float:
        return 0.5 * float(max(self.size[0], self.size[1])) * (1.0 if self.shape != "box" else 1.42)


@dataclass(frozen=True)
class Lighting:
    sun_azimuth_deg: float
    sun_elevation_deg: float
    sun_color: tuple[float, float, float]
    ambient: float
    sky_top: tuple[float, float, float]
    sky_horizon: tuple[float, float, float]


@dataclass(frozen=True)
class SceneSpec:
    name: str
    description: str
    extent: tuple[float, float]  # x, y size in metres, centred on the origin
    ground: Material
    wall_height: float  # 0: open scene with no walls
    wall: Material
    props: tuple[Prop, ...]
    lighting: Lighting
    unreal_level: str
    # props_style=asset: the 0 A.D. terrain texture of the ground (hmworld.assets.scenery; "" picks one from the
    # ground's texture). Out of the repr for the same reason as Prop.asset
    terrain: str = field(default="", repr=False, compare=False)

    def walkable_bounds(self, margin: float) -> tuple[float, float, float, float]:
        hx, hy = self.extent[0] / 2 - margin, self.extent[1] / 2 - margin
        return (-hx, -hy, hx, hy)


@dataclass(frozen=True)
class SubjectSpec:
    name: str
    kind: str  # "human" | "animal"
    coco_name: str
    body_plan: str
    description: str  # "a woman in a red jacket"
    height: float  # metres, standing
    length: float  # metres, nose to tail (for humans: shoulder width)
    colors: Mapping[str, tuple[float, float, float]]
    textures: Mapping[str, str]
    proportions: Mapping[str, float]
    speed: tuple[float, float]  # m/s
    stride: float  # metres per walk cycle
    gait: str  # verb for captions: "walks", "trots", ...
    unreal_asset: str

    @property
    def coco_class(self) -> int:
        return COCO_CLASSES[self.coco_name]

    @property
    def radius(self) -> float:
        """Footprint radius used for placement (subjects keep clear of props and of each other)."""
        return 0.5 * max(self.length, 0.45 * self.height)


@dataclass(frozen=True)
class SubjectTrajectorySpec:
    name: str
    type: str
    description: str  # "in a wide arc"
    params: Mapping[str, float]


@dataclass(frozen=True)
class CameraMotion:
    motion: str
    amplitude: float  # degrees for pan/tilt/orbit/roll, metres for truck/dolly/crane
    profile: str


@dataclass(frozen=True)
class CameraTrajectorySpec:
    name: str
    description: str  # "pans {dir} away from the subject and back"
    motions: tuple[CameraMotion, ...] = ()
    distance: tuple[float, float] = (0.0, 0.0)  # free: metres from the focus subject at frame 0
    height: tuple[float, float] = (0.0, 0.0)  # free: camera height in metres
    kind: str = "free"  # free | track
    mode: str = ""  # track: lead | follow | alongside (where the camera walks relative to the subject)


@dataclass(frozen=True)
class Partition:
    name: str
    scenes: tuple[str, ...]
    subjects: tuple[str, ...]


@dataclass
class Catalog:
    scenes: dict[str, SceneSpec] = field(default_factory=dict)
    subjects: dict[str, SubjectSpec] = field(default_factory=dict)
    subject_trajectories: dict[str, SubjectTrajectorySpec] = field(default_factory=dict)
    camera_trajectories: dict[str, CameraTrajectorySpec] = field(default_factory=dict)
    partitions: dict[str, Partition] = field(default_factory=dict)

    def summary(self) -> str:
        return (f"{len(self.scenes)} scenes, {len(self.subjects)} subjects, "
                f"{len(self.subject_trajectories)} subject trajectories, "
                f"{len(self.camera_trajectories)} camera trajectories")

    def select(self, group: str, names: Sequence[str] | None, allowed: Sequence[str] | None = None) -> list:
        """Entries of `group` named in `names` (all of `allowed`, or all, when None); unknown names raise."""
        table: dict = getattr(self, group)
        pool = list(allowed) if allowed is not None else sorted(table)
        if names is None:
            return [table[n] for n in pool]
        unknown = [n for n in names if n not in table]
        if unknown:
            raise ConfigError(f"unknown {group} name(s) {unknown}; known: {sorted(table)}")
        outside = [n for n in names if n not in pool]
        if outside:
            raise ConfigError(f"{group} {outside} are not in the chosen partition (allowed: {pool})")
        return [table[n] for n in names]


# ----------------------------------------------------------------------------------------------- loading
def default_config_dir() -> Path:
    return Path(str(resources.files("hmworld.render_configs")))


def _rgb(value: Any, where: str) -> tuple[float, float, float]:
    vals = tuple(float(x) for x in value)
    if len(vals) != 3 or not all(0.0 <= x <= 1.0 for x in vals):
        raise ConfigError(f"{where}: colour must be 3 numbers in [0, 1], got {list(value)}")
    return vals  # type: ignore[return-value]


def _material(d: Mapping, where: str) -> Material:
    tex = str(d.get("texture", "flat"))
    if tex not in TEXTURES:
        raise ConfigError(f"{where}: unknown texture {tex!r}; known: {list(TEXTURES)}")
    return Material(_rgb(d["color"], where), tex, float(d.get("texture_scale", 1.0)))


def _require(d: Mapping, keys: Sequence[str], where: str) -> None:
    missing = [k for k in keys if k not in d]
    if missing:
        raise ConfigError(f"{where}: missing field(s) {missing}")


def _choice(value: str, options: Sequence[str], where: str, what: str) -> str:
    if value not in options:
        raise ConfigError(f"{where}: unknown {what} {value!r}; known: {list(options)}")
    return value


def parse_scene(name: str, d: Mapping) -> SceneSpec:
    where = f"scene {name!r}"
    _require(d, ["description", "extent", "ground", "lighting"], where)
    extent = tuple(float(x) for x in d["extent"])
    if len(extent) != 2 or min(extent) < 6.0:
        raise ConfigError(f"{where}: extent must be [x, y] metres, each >= 6, got {list(d['extent'])}")
    props = []
    for i, p in enumerate(d.get("props", []) or []):
        pw = f"{where} prop {i}"
        _require(p, ["shape", "position", "size", "color"], pw)
        pos = tuple(float(x) for x in p["position"])
        if abs(pos[0]) > extent[0] / 2 or abs(pos[1]) > extent[1] / 2:
            raise ConfigError(f"{pw}: position {list(pos)} lies outside the scene extent {list(extent)}")
        props.append(Prop(_choice(str(p["shape"]), PROP_SHAPES, pw, "shape"), pos,
                          tuple(float(x) for x in p["size"]), _material(p, pw), float(p.get("yaw_deg", 0.0)),
                          str(p.get("asset", ""))))
    lt = d["lighting"]
    lighting = Lighting(float(lt["sun_azimuth_deg"]), float(lt["sun_elevation_deg"]), _rgb(lt["sun_color"], where),
                        float(lt["ambient"]), _rgb(lt["sky_top"], where), _rgb(lt["sky_horizon"], where))
    walls = d.get("walls") or {"height": 0.0, "color": [0.5, 0.5, 0.5]}
    return SceneSpec(name, str(d["description"]), extent, _material(d["ground"], where), float(walls["height"]),
                     _material(walls, where), tuple(props), lighting, str(d.get("unreal", {}).get("level", "")),
                     str(d["ground"].get("terrain", "")))


def parse_subject(name: str, d: Mapping) -> SubjectSpec:
    where = f"subject {name!r}"
    _require(d, ["kind", "coco_class", "body_plan", "description", "height", "colors", "speed"], where)
    kind = _choice(str(d["kind"]), ("human", "animal"), where, "kind")
    coco = _choice(str(d["coco_class"]), tuple(COCO_CLASSES), where, "COCO class")
    plan = _choice(str(d["body_plan"]), BODY_PLANS, where, "body plan")
    speed = tuple(float(x) for x in d["speed"])
    if len(speed) != 2 or not 0 < speed[0] <= speed[1]:
        raise ConfigError(f"{where}: speed must be [min, max] m/s with 0 < min <= max, got {list(d['speed'])}")
    textures = {k: _choice(str(v), TEXTURES, where, "texture") for k, v in (d.get("textures") or {}).items()}
    return SubjectSpec(
        name=name, kind=kind, coco_name=coco, body_plan=plan, description=str(d["description"]),
        height=float(d["height"]), length=float(d.get("length", 0.45 * float(d["height"]))),
        colors={k: _rgb(v, where) for k, v in d["colors"].items()}, textures=textures,
        proportions={k: float(v) for k, v in (d.get("proportions") or {}).items()},
        speed=speed, stride=float(d.get("stride", 1.4)), gait=str(d.get("gait", "walks")),
        unreal_asset=str(d.get("unreal", {}).get("asset", "")),
    )


def parse_subject_trajectory(name: str, d: Mapping) -> SubjectTrajectorySpec:
    where = f"subject_trajectory {name!r}"
    _require(d, ["type", "description"], where)
    return SubjectTrajectorySpec(name, _choice(str(d["type"]), SUBJECT_TRAJECTORY_TYPES, where, "type"),
                                 str(d["description"]), {k: float(v) for k, v in (d.get("params") or {}).items()})


def parse_camera_trajectory(name: str, d: Mapping) -> CameraTrajectorySpec:
    where = f"camera_trajectory {name!r}"
    kind = _choice(str(d.get("kind", "free")), CAMERA_KINDS, where, "kind")
    if kind == "track":
        _require(d, ["description", "mode"], where)
        return CameraTrajectorySpec(name, str(d["description"]), kind=kind,
                                    mode=_choice(str(d["mode"]), TRACK_MODES, where, "mode"))
    _require(d, ["description", "motions", "distance", "height"], where)
    motions = []
    for m in d["motions"]:
        motions.append(CameraMotion(_choice(str(m["motion"]), CAMERA_MOTIONS, where, "motion"), float(m["amplitude"]),
                                    _choice(str(m.get("profile", "away_back")), CAMERA_PROFILES, where, "profile")))
    if not motions:
        raise ConfigError(f"{where}: needs at least one motion")
    dist, height = tuple(float(x) for x in d["distance"]), tuple(float(x) for x in d["height"])
    if not 0.5 <= dist[0] <= dist[1] or not 0.2 <= height[0] <= height[1]:
        raise ConfigError(f"{where}: distance/height ranges must be [min, max] with min <= max")
    return CameraTrajectorySpec(name, str(d["description"]), tuple(motions), dist, height)  # type: ignore[arg-type]


_GROUPS = {
    "scene": ("scenes", parse_scene),
    "subject": ("subjects", parse_subject),
    "subject_trajectory": ("subject_trajectories", parse_subject_trajectory),
    "camera_trajectory": ("camera_trajectories", parse_camera_trajectory),
}


def load_catalog(config_dirs: Sequence[str | Path] = ()) -> Catalog:
    """Read every group of the packaged catalog, then of each extra folder (later entries override)."""
    catalog = Catalog()
    for root in [default_config_dir(), *map(Path, config_dirs)]:
        if not root.is_dir():
            raise ConfigError(f"catalog folder {root} does not exist")
        for group, (attr, parse) in _GROUPS.items():
            for path in sorted((root / group).glob("*.yaml")):
                getattr(catalog, attr)[path.stem] = parse(path.stem, _load_yaml(path))
        for path in sorted((root / "partition").glob("*.yaml")):
            data = _load_yaml(path)
            catalog.partitions[path.stem] = Partition(path.stem, tuple(data["scenes"]), tuple(data["subjects"]))
    for part in catalog.partitions.values():
        for group, names in (("scenes", part.scenes), ("subjects", part.subjects)):
            unknown = sorted(set(names) - set(getattr(catalog, group)))
            if unknown:
                raise ConfigError(f"partition {part.name!r} names unknown {group} {unknown}")
    return catalog
