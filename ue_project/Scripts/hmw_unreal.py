"""Shared helpers for the editor scripts (they run inside Unreal: `import unreal`).

The scripts read the catalog that `export_catalog.py` wrote (already in Unreal units and axes), so nothing
here converts coordinates. Run them headless with the editor's commandlet, e.g.

    UnrealEditor-Cmd /abs/ue_project/HMWorld.uproject -run=pythonscript -script="/abs/ue_project/Scripts/build_levels.py --all"

or from the editor's Python console (`py "/abs/ue_project/Scripts/build_levels.py" --all`).
"""
from __future__ import annotations

import argparse
import json
import os

import unreal

SUBJECT_CLASS = "/Script/HMWorld.HMWorldSubject"  # Source/HMWorld/HMWorldSubject.h
FUSION_CAMERA_CLASS = "/Script/UnrealCV.FusionCameraActor"  # UnrealCV's capture camera
SHAPE_MATERIAL = "/Engine/BasicShapes/BasicShapeMaterial"  # has a `Color` vector parameter
MATERIAL_FOLDER = "/Game/HMWorld/Materials"
FORMAT_VERSION = 1


def default_catalog_path() -> str:
    return os.path.join(unreal.Paths.convert_relative_path_to_full(unreal.Paths.project_saved_dir()),
                        "hmworld_catalog.json")


def load_catalog(path: str | None) -> dict:
    path = path or default_catalog_path()
    if not os.path.exists(path):
        raise SystemExit(f"{path} not found: run `.venv/bin/python ue_project/Scripts/export_catalog.py` in the "
                         "toolkit checkout first (ue_project/README.md, step 3)")
    with open(path) as f:
        data = json.load(f)
    if data.get("format_version") != FORMAT_VERSION:
        raise SystemExit(f"{path}: format_version {data.get('format_version')} != {FORMAT_VERSION}; re-export it")
    return data


def parse_command_line(argv, prog: str, doc: str, section: str, add_options) -> tuple[argparse.Namespace, dict]:
    """The scripts' shared command line: --catalog, --list, the script's own options (`add_options(parser)`),
    --overwrite. Returns the arguments and the catalog's `section` ("scenes", "subjects") by name."""
    ap = argparse.ArgumentParser(prog=prog, description=doc.splitlines()[0])
    ap.add_argument("--catalog")
    ap.add_argument("--list", action="store_true")
    add_options(ap)
    ap.add_argument("--overwrite", action="store_true")
    args = ap.parse_args(argv)
    return args, {entry["name"]: entry for entry in load_catalog(args.catalog)[section]}


def check_known(names: list[str], known: dict, what: str) -> None:
    """Stops before any work when a name is not in the catalog (a typo should not build half a list)."""
    unknown = [n for n in names if n not in known]
    if unknown:
        raise SystemExit(f"unknown {what}(s) {unknown}; known: {sorted(known)}")


def keep_existing(name: str, asset_path: str, overwrite: bool) -> bool:
    """Whether to leave an asset that already exists as it is (and say so): unless --overwrite."""
    if exists(asset_path) and not overwrite:
        print(f"skip   {name}: {asset_path} exists (--overwrite rebuilds it)")
        return True
    return False


def split_path(asset_path: str) -> tuple[str, str]:
    """`/Game/A/B/Name` -> (`/Game/A/B`, `Name`)."""
    folder, _, name = asset_path.rpartition("/")
    return folder, name


def exists(asset_path: str) -> bool:
    return unreal.EditorAssetLibrary.does_asset_exist(asset_path)


def vector(xyz) -> unreal.Vector:
    return unreal.Vector(float(xyz[0]), float(xyz[1]), float(xyz[2]))


def rotator(pyr) -> unreal.Rotator:
    # keywords: unreal.Rotator's positional order is (roll, pitch, yaw)
    return unreal.Rotator(pitch=float(pyr[0]), yaw=float(pyr[1]), roll=float(pyr[2]))


def color_material(rgb) -> unreal.MaterialInterface:
    """A material instance of the engine's basic shape material with this colour (one per distinct colour)."""
    r, g, b = (int(round(255 * float(c))) for c in rgb)
    name = f"MI_HMW_{r:02X}{g:02X}{b:02X}"
    path = f"{MATERIAL_FOLDER}/{name}"
    if exists(path):
        return unreal.EditorAssetLibrary.load_asset(path)
    unreal.EditorAssetLibrary.make_directory(MATERIAL_FOLDER)
    tools = unreal.AssetToolsHelpers.get_asset_tools()
    mi = tools.create_asset(name, MATERIAL_FOLDER, unreal.MaterialInstanceConstant,
                            unreal.MaterialInstanceConstantFactoryNew())
    unreal.MaterialEditingLibrary.set_material_instance_parent(mi, unreal.EditorAssetLibrary.load_asset(SHAPE_MATERIAL))
    unreal.MaterialEditingLibrary.set_material_instance_vector_parameter_value(
        mi, "Color", unreal.LinearColor(float(rgb[0]), float(rgb[1]), float(rgb[2]), 1.0))
    unreal.EditorAssetLibrary.save_loaded_asset(mi)
    return mi
