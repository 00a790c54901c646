"""Build (or list) the levels the scene configs name (`unreal.level` in render_configs/scene/*.yaml).

Inside Unreal (see hmw_unreal.py for how to run it):
    build_levels.py --list                     which levels exist, which are missing
    build_levels.py --all [--overwrite]        build every missing level (or all, with --overwrite)
    build_levels.py --scenes city_park,beach   build these
    [--catalog PATH]                           default: <project>/Saved/hmworld_catalog.json

A built level holds the scene's static geometry as the embedded renderer draws it (ground, walls, props as
engine basic shapes with flat-colour materials, same places and sizes), a sun and sky light, a sky
atmosphere, and one UnrealCV capture camera (camera id 1, which the renderer moves every frame). Replace the
basic shapes with art as you like: keep the props where they are (they are the occluders the compositor
planned around) and keep the ground at z = 0.
"""
from __future__ import annotations

import os
import sys

import unreal

# Unreal runs a script file without putting its folder on sys.path; the shared helpers live beside it.
sys.path.insert(0, os.path.dirname(os.path.abspath(globals().get("__file__", sys.argv[0]))))

from hmw_unreal import (FUSION_CAMERA_CLASS, check_known, color_material, exists, keep_existing, parse_command_line,
                        rotator, vector)


def build_level(scene: dict) -> None:
    level = scene["level"]
    levels = unreal.get_editor_subsystem(unreal.LevelEditorSubsystem)
    actors = unreal.get_editor_subsystem(unreal.EditorActorSubsystem)
    if not levels.new_level(level):
        raise RuntimeError(f"could not create level {level}")
    for i, item in enumerate(scene["static"]):
        mesh = unreal.EditorAssetLibrary.load_asset(item["shape"])
        actor = actors.spawn_actor_from_object(mesh, vector(item["location"]), rotator(item["rotation"]))
        actor.set_actor_scale3d(vector(item["scale"]))
        actor.set_actor_label("Ground" if item["ground"] else f"Static_{i:03d}")
        actor.static_mesh_component.set_material(0, color_material(item["color"]))
        actor.set_mobility(unreal.ComponentMobility.STATIC)
    sun = actors.spawn_actor_from_class(unreal.DirectionalLight, unreal.Vector(0, 0, 1000),
                                        rotator(scene["sun"]["rotation"]))
    sun.set_actor_label("Sun")
    c = scene["sun"]["color"]
    peak = max(c) or 1.0
    sun.light_component.set_light_color(unreal.LinearColor(c[0] / peak, c[1] / peak, c[2] / peak, 1.0))
    sun.light_component.set_intensity(10.0 * peak)  # lux; the outdoor default scaled by the sun's brightness
    sun.light_component.set_editor_property("atmosphere_sun_light", True)
    sky = actors.spawn_actor_from_class(unreal.SkyLight, unreal.Vector(0, 0, 500), unreal.Rotator())
    sky.set_actor_label("SkyLight")
    sky.light_component.set_editor_property("real_time_capture", True)
    sky.light_component.set_intensity(max(0.2, 2.0 * scene["sky"]["ambient"]))
    actors.spawn_actor_from_class(unreal.SkyAtmosphere, unreal.Vector(0, 0, 0), unreal.Rotator()).set_actor_label(
        "SkyAtmosphere")
    cam_class = unreal.load_class(None, FUSION_CAMERA_CLASS)
    if cam_class is None:
        raise RuntimeError(f"{FUSION_CAMERA_CLASS} not found: is the UnrealCV plugin in ue_project/Plugins and enabled?")
    cam = scene["capture_camera"]
    actors.spawn_actor_from_class(cam_class, vector(cam["location"]), rotator(cam["rotation"])).set_actor_label(
        "HMWorldCaptureCamera")
    if not levels.save_current_level():
        raise RuntimeError(f"could not save level {level}")
    unreal.log(f"HMWorld: built {level} ({len(scene['static'])} static shapes)")


def main(argv) -> int:
    def add_options(ap):
        ap.add_argument("--all", action="store_true")
        ap.add_argument("--scenes", default="", help="comma-separated scene names")

    args, scenes = parse_command_line(argv, "build_levels.py", __doc__, "scenes", add_options)
    if args.list or not (args.all or args.scenes):
        for name, s in sorted(scenes.items()):
            print(f"{'built  ' if exists(s['level']) else 'MISSING'}  {name:18s} {s['level']}")
        return 0
    names = sorted(scenes) if args.all else [n.strip() for n in args.scenes.split(",") if n.strip()]
    check_known(names, scenes, "scene")
    for name in names:
        if not keep_existing(name, scenes[name]["level"], args.overwrite):
            build_level(scenes[name])
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
