"""ue_project/ stays consistent with the catalog and with what the renderer sends (no Unreal needed)."""
import ast
import configparser
import json
import re
import subprocess
import sys
from pathlib import Path

import numpy as np

from hmworld.render.base import scene_instances
from hmworld.ue_axes import ue_transform_to_world_model
from hmworld.render.unrealcv_sim import COMMAND_TEMPLATES

ROOT = Path(__file__).resolve().parents[3]
UE = ROOT / "ue_project"


def test_uproject_enables_unrealcv_and_python():
    project = json.loads((UE / "HMWorld.uproject").read_text())
    plugins = {p["Name"]: p["Enabled"] for p in project["Plugins"]}
    assert plugins["UnrealCV"] and plugins["PythonScriptPlugin"] and plugins["EditorScriptingUtilities"]
    assert [m["Name"] for m in project["Modules"]] == ["HMWorld"]
    assert (UE / "Source" / "HMWorld" / "HMWorld.Build.cs").exists()
    ini = configparser.ConfigParser(strict=False)
    ini.read(UE / "Config" / "unrealcv.ini")
    assert ini["UnrealCV.Core"].getint("Port") == 9000


def test_every_scene_level_is_cooked_and_the_start_map_exists(catalog):
    text = (UE / "Config" / "DefaultGame.ini").read_text()
    cooked = set(re.findall(r'\+MapsToCook=\(FilePath="([^"]+)"\)', text))
    assert cooked == {s.unreal_level for s in catalog.scenes.values()}
    assert '+DirectoriesToAlwaysCook=(Path="/Game/HMWorld")' in text
    assert all(s.unreal_asset.startswith("/Game/HMWorld/") for s in catalog.subjects.values())
    start = re.search(r"GameDefaultMap=(\S+)", (UE / "Config" / "DefaultEngine.ini").read_text()).group(1)
    assert start.split(".")[0] in cooked


def test_subject_actor_implements_what_the_renderer_calls():
    header = (UE / "Source" / "HMWorld" / "HMWorldSubject.h").read_text()
    for func, nargs in (("HMSetPose", 4), ("HMSetAnimationPhase", 1)):
        m = re.search(rf"UFUNCTION\(BlueprintCallable[^)]*\)\s*void {func}\(([^)]*)\)", header)
        assert m and len(m.group(1).split(",")) == nargs, func
        assert any(t.startswith(f"vbp [str] {func}") and t.count("[float]") == nargs for t in COMMAND_TEMPLATES)
    renderer = (ROOT / "hmworld" / "render" / "unreal.py").read_text()
    assert "HMSetPose" in renderer and "HMSetAnimationPhase" in renderer


def test_editor_scripts_parse_and_use_only_the_export():
    for path in (UE / "Scripts").glob("*.py"):
        tree = ast.parse(path.read_text(), filename=str(path))
        imported = {a.name.split(".")[0] for n in ast.walk(tree) if isinstance(n, ast.Import) for a in n.names}
        imported |= {n.module.split(".")[0] for n in ast.walk(tree) if isinstance(n, ast.ImportFrom) and n.module}
        if path.name == "export_catalog.py":
            assert "unreal" not in imported  # runs in the toolkit's Python
        else:
            # Unreal's Python has neither numpy nor the toolkit: the editor scripts place what the export says
            assert "unreal" in imported and not imported & {"numpy", "hmworld", "yaml"}, path.name


def test_export_catalog_places_static_geometry_where_the_embedded_renderer_draws_it(tmp_path, catalog):
    out = tmp_path / "catalog.json"
    subprocess.run([sys.executable, str(UE / "Scripts" / "export_catalog.py"), "--out", str(out)], check=True,
                   capture_output=True, text=True, timeout=120)
    data = json.loads(out.read_text())
    assert {s["name"] for s in data["scenes"]} == set(catalog.scenes)
    assert {s["name"]: s["asset"] for s in data["subjects"]} == {n: s.unreal_asset for n, s in catalog.subjects.items()}
    template = json.loads((tmp_path / "subject_sources.template.json").read_text())
    assert set(template) == set(catalog.subjects)
    for exported in data["scenes"]:
        scene = catalog.scenes[exported["name"]]
        assert exported["level"] == scene.unreal_level
        want = np.stack([inst.model for inst in scene_instances(scene)])
        items = exported["static"]
        got = ue_transform_to_world_model(np.array([i["location"] for i in items]),
                                          *np.array([i["rotation"] for i in items]).T,
                                          np.array([i["scale"] for i in items]))
        np.testing.assert_allclose(got, want, atol=1e-3)  # the JSON keeps 4 decimals (cm, degrees)
