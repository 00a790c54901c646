"""Export the HM-World catalog for the Unreal editor scripts, already in Unreal units and axes.

Runs in the toolkit's Python (not Unreal's): every pose goes through `hmworld.ue_axes`, the project's one
module that knows Unreal axes, so the editor scripts only place what this file says.

    .venv/bin/python ue_project/Scripts/export_catalog.py [--out ue_project/Saved/hmworld_catalog.json]
                                                          [--catalog-dir extra_catalog ...]

Writes scenes (level path, static geometry as Unreal basic shapes with location cm / rotation / scale,
materials, sun, sky) and subjects (asset path, kind, body plan, description, height) as JSON, plus
`subject_sources.template.json` beside it: the table `import_subjects.py` reads to find each subject's mesh
and walk animation.
"""
from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np

from hmworld.catalog import load_catalog
from hmworld.render.base import scene_instances, sun_direction
from hmworld.ue_axes import world_direction_to_ue_rotator, world_model_to_ue_transform

SHAPES = {"cube": "/Engine/BasicShapes/Cube.Cube", "cylinder": "/Engine/BasicShapes/Cylinder.Cylinder",
          "sphere": "/Engine/BasicShapes/Sphere.Sphere", "cone": "/Engine/BasicShapes/Cone.Cone"}
FORMAT_VERSION = 1


def _r(x, nd=4):
    return [round(float(v), nd) for v in np.atleast_1d(x)]


def export(catalog_dirs=()) -> dict:
    catalog = load_catalog(list(catalog_dirs))
    scenes = []
    for name, scene in sorted(catalog.scenes.items()):
        static = []
        for inst in scene_instances(scene):
            loc, (pitch, yaw, roll), scale = world_model_to_ue_transform(inst.model)
            static.append({"shape": SHAPES[inst.primitive], "location": _r(loc), "rotation": _r([pitch, yaw, roll]),
                           "scale": _r(scale), "color": _r(inst.material.color), "texture": inst.material.texture,
                           "ground": inst.ground})
        lt = scene.lighting
        pitch, yaw = world_direction_to_ue_rotator(-sun_direction(scene))  # the light travels away from the sun
        scenes.append({
            "name": name, "level": scene.unreal_level, "description": scene.description,
            "extent_m": _r(scene.extent), "static": static,
            "sun": {"rotation": _r([pitch, yaw, 0.0]), "color": _r(lt.sun_color)},
            "sky": {"top": _r(lt.sky_top), "horizon": _r(lt.sky_horizon), "ambient": float(lt.ambient)},
            # UnrealCV camera 1: the renderer moves it every frame; placed so the level has one
            "capture_camera": {"location": [0.0, 0.0, 200.0], "rotation": [0.0, 0.0, 0.0]},
        })
    subjects = [{"name": n, "asset": s.unreal_asset, "kind": s.kind, "coco_class": s.coco_name,
                 "body_plan": s.body_plan, "description": s.description, "height_m": s.height, "length_m": s.length,
                 "gait": s.gait, "colors": {k: _r(v) for k, v in s.colors.items()}}
                for n, s in sorted(catalog.subjects.items())]
    return {"format_version": FORMAT_VERSION, "scenes": scenes, "subjects": subjects}


def sources_template(data: dict) -> dict:
    """What import_subjects.py needs per subject; fill in the paths of the assets you use."""
    return {s["name"]: {"description": s["description"], "body_plan": s["body_plan"],
                        "mesh_fbx": "", "walk_fbx": "", "mesh": "", "walk": "", "cycles_in_animation": 1.0}
            for s in data["subjects"]}


def main(argv=None) -> int:
    here = Path(__file__).resolve().parents[1]
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", type=Path, default=here / "Saved" / "hmworld_catalog.json")
    ap.add_argument("--catalog-dir", action="append", default=[], help="extra catalog folder (as catalog_dirs=)")
    args = ap.parse_args(argv)
    data = export(args.catalog_dir)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(data, indent=1))
    template = args.out.parent / "subject_sources.template.json"
    template.write_text(json.dumps(sources_template(data), indent=1))
    print(f"wrote {args.out} ({len(data['scenes'])} scenes, {len(data['subjects'])} subjects) and {template}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
