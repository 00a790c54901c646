"""Import subject assets and create the subject Blueprints the subject configs name (`unreal.asset`).

Inside Unreal (see hmw_unreal.py for how to run it):
    import_subjects.py --list                         which subject Blueprints exist, which are missing
    import_subjects.py --sources subject_sources.json [--subjects dog_golden,...] [--overwrite]

`subject_sources.json` (start from Saved/subject_sources.template.json, which export_catalog.py writes) maps
each subject to either FBX files to import or assets already in the project:

    "dog_golden": {"mesh_fbx": "/data/dog/SK_Dog.fbx", "walk_fbx": "/data/dog/Dog_Walk.fbx",
                   "cycles_in_animation": 1.0}
    "man_red_hoodie": {"mesh": "/Game/Characters/Mannequins/Meshes/SKM_Manny",
                       "walk": "/Game/Characters/Mannequins/Animations/Manny/MM_Walk_Fwd", "cycles_in_animation": 1.0}

For each subject the script imports the FBX (skeletal mesh, then the walk animation on its skeleton) into the
subject's folder, and creates `BP_<Name>` at the configured asset path: a Blueprint of `AHMWorldSubject`
(Source/HMWorld/HMWorldSubject.h, which implements HMSetPose and HMSetAnimationPhase for the renderer) with
the mesh, the walk cycle, and the mesh scaled to the subject's height in the catalog.
"""
from __future__ import annotations

import json
import os
import sys

import unreal

# Unreal runs a script file without putting its folder on sys.path; the shared helpers live beside it.
sys.path.insert(0, os.path.dirname(os.path.abspath(globals().get("__file__", sys.argv[0]))))

from hmw_unreal import SUBJECT_CLASS, check_known, exists, keep_existing, parse_command_line, split_path


def import_fbx(filename: str, folder: str, skeleton=None):
    task = unreal.AssetImportTask()
    task.set_editor_property("filename", filename)
    task.set_editor_property("destination_path", folder)
    task.set_editor_property("automated", True)
    task.set_editor_property("replace_existing", True)
    task.set_editor_property("save", True)
    ui = unreal.FbxImportUI()
    ui.set_editor_property("import_as_skeletal", True)
    ui.set_editor_property("import_materials", True)
    ui.set_editor_property("import_textures", True)
    if skeleton is None:
        ui.set_editor_property("mesh_type_to_import", unreal.FBXImportType.FBXIT_SKELETAL_MESH)
        ui.set_editor_property("import_mesh", True)
        ui.set_editor_property("import_animations", False)
    else:
        ui.set_editor_property("mesh_type_to_import", unreal.FBXImportType.FBXIT_ANIMATION)
        ui.set_editor_property("import_mesh", False)
        ui.set_editor_property("import_animations", True)
        ui.set_editor_property("skeleton", skeleton)
    task.set_editor_property("options", ui)
    unreal.AssetToolsHelpers.get_asset_tools().import_asset_tasks([task])
    paths = list(task.get_editor_property("imported_object_paths"))
    want = unreal.AnimSequence if skeleton is not None else unreal.SkeletalMesh
    for p in paths:
        asset = unreal.EditorAssetLibrary.load_asset(p)
        if isinstance(asset, want):
            return asset
    raise RuntimeError(f"importing {filename} gave no {want.__name__} (got {paths})")


def resolve_sources(subject: dict, src: dict, folder: str):
    if src.get("mesh_fbx"):
        mesh = import_fbx(src["mesh_fbx"], folder)
    elif src.get("mesh"):
        mesh = unreal.EditorAssetLibrary.load_asset(src["mesh"])
    else:
        raise ValueError(f"{subject['name']}: give mesh_fbx or mesh in the sources file")
    if src.get("walk_fbx"):
        walk = import_fbx(src["walk_fbx"], folder, skeleton=mesh.skeleton)
    elif src.get("walk"):
        walk = unreal.EditorAssetLibrary.load_asset(src["walk"])
    else:
        raise ValueError(f"{subject['name']}: give walk_fbx or walk in the sources file")
    if not isinstance(mesh, unreal.SkeletalMesh) or not isinstance(walk, unreal.AnimSequence):
        raise ValueError(f"{subject['name']}: mesh must be a SkeletalMesh and walk an AnimSequence")
    return mesh, walk


def create_blueprint(subject: dict, mesh, walk, cycles: float):
    folder, name = split_path(subject["asset"])
    parent = unreal.load_class(None, SUBJECT_CLASS)
    if parent is None:
        raise RuntimeError(f"{SUBJECT_CLASS} not found: build the project's C++ module first (README step 2)")
    if exists(subject["asset"]):
        unreal.EditorAssetLibrary.delete_asset(subject["asset"])
    factory = unreal.BlueprintFactory()
    factory.set_editor_property("parent_class", parent)
    bp = unreal.AssetToolsHelpers.get_asset_tools().create_asset(name, folder, None, factory)
    unreal.BlueprintEditorLibrary.compile_blueprint(bp)
    cdo = unreal.get_default_object(unreal.EditorAssetLibrary.load_blueprint_class(subject["asset"]))
    cdo.set_editor_property("walk_cycle", walk)
    cdo.set_editor_property("cycles_in_animation", float(cycles))
    comp = cdo.get_editor_property("mesh")
    try:
        comp.set_editor_property("skeletal_mesh_asset", mesh)  # UE 5.1+
    except Exception:  # noqa: BLE001 - older engines name it skeletal_mesh
        comp.set_editor_property("skeletal_mesh", mesh)
    # scale the mesh to the catalog's standing height (bounds are in cm)
    height_cm = 2.0 * mesh.get_bounds().box_extent.z
    if height_cm > 0:
        s = 100.0 * float(subject["height_m"]) / height_cm
        comp.set_editor_property("relative_scale3d", unreal.Vector(s, s, s))
    unreal.BlueprintEditorLibrary.compile_blueprint(bp)
    unreal.EditorAssetLibrary.save_loaded_asset(bp)
    unreal.log(f"HMWorld: {subject['asset']} <- {mesh.get_path_name()} + {walk.get_path_name()}")


def main(argv) -> int:
    def add_options(ap):
        ap.add_argument("--sources", help="subject_sources.json")
        ap.add_argument("--subjects", default="", help="comma-separated subject names (default: all in --sources)")

    args, subjects = parse_command_line(argv, "import_subjects.py", __doc__, "subjects", add_options)
    if args.list or not args.sources:
        for name, s in sorted(subjects.items()):
            print(f"{'ready  ' if exists(s['asset']) else 'MISSING'}  {name:22s} {s['asset']}  ({s['description']})")
        return 0
    with open(args.sources) as f:
        sources = json.load(f)
    names = [n.strip() for n in args.subjects.split(",") if n.strip()] or sorted(
        n for n, v in sources.items() if v.get("mesh") or v.get("mesh_fbx"))
    check_known(names, subjects, "subject")
    failed = []
    for name in names:
        s = subjects[name]
        if keep_existing(name, s["asset"], args.overwrite):
            continue
        try:
            mesh, walk = resolve_sources(s, sources.get(name, {}), split_path(s["asset"])[0])
            create_blueprint(s, mesh, walk, sources.get(name, {}).get("cycles_in_animation", 1.0))
        except (ValueError, RuntimeError) as exc:
            failed.append(name)
            unreal.log_error(f"HMWorld: {name}: {exc}")
    if failed:
        print(f"failed: {failed}")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
