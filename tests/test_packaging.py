"""The build maps model/, metrics/, benchmark/ and render_configs/ into the hmworld namespace, completely, and the
checkout shows that layout to static tools (links in hmworld/; go-to-definition through them with jedi)."""
import importlib
import os
import sys
import tomllib
from pathlib import Path

import jedi
import pytest

ROOT = Path(__file__).resolve().parents[1]


def setuptools_config() -> dict:
    return tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]


def test_every_python_folder_is_a_listed_package():
    cfg = setuptools_config()
    listed, mapping = set(cfg["packages"]), cfg["package-dir"]
    found = set()
    for name, folder in mapping.items():
        # a package: a folder with __init__.py; a data package: a folder of YAML files the build ships (Python can
        # import it as a namespace package, and setuptools warns when it is not listed). rglob does not follow
        # the links hmworld/model ..., so each folder is counted under its own name only.
        for path in (ROOT / folder).rglob("*"):
            if path.name == "__init__.py" or path.suffix == ".yaml":
                rel = path.parent.relative_to(ROOT / folder)
                found.add(".".join([name, *rel.parts]))
    assert found == listed, f"unlisted: {sorted(found - listed)}, listed but missing: {sorted(listed - found)}"


def test_namespace_mapping_and_no_top_level_generic_names():
    for name, folder in (("hmworld.model", "model"), ("hmworld.metrics", "metrics"),
                         ("hmworld.benchmark", "benchmark"), ("hmworld.render_configs", "render_configs")):
        mod = importlib.import_module(name)
        assert Path(mod.__file__).resolve().parent == (ROOT / folder).resolve()
    assert not (ROOT / "hydra").exists()  # hydra-core owns that import name


def test_the_checkout_links_each_mapped_folder_into_hmworld():
    for name, folder in setuptools_config()["package-dir"].items():
        if name == "hmworld":
            continue
        link = ROOT / "hmworld" / name.split(".", 1)[1]
        assert link.is_symlink() and os.readlink(link) == f"../{folder}", f"{link} should be a link to ../{folder}"


# (import, name, file in the checkout); the last is a lazy re-export (hmworld/lazy.py): written under TYPE_CHECKING
TARGETS = [("hmworld.model.transformer_hydra", "HyDRATransformer3DModel", "model/transformer_hydra.py"),
           ("hmworld.metrics.pixel", "psnr", "metrics/pixel.py"),
           ("hmworld.benchmark.scoring", "score_submission", "benchmark/scoring.py"),
           ("hmworld.model", "HyDRATransformer3DModel", "model/transformer_hydra.py")]


@pytest.mark.parametrize("where", ["checkout", "elsewhere"])
def test_go_to_definition_follows_the_package_mapping(where, tmp_path):
    """What an editor's static analysis sees: jedi with this interpreter's installation, for a file inside the
    checkout (the project) and for one outside it (only the installed hmworld)."""
    env = jedi.create_environment(sys.executable, safe=False)
    project = jedi.Project(ROOT if where == "checkout" else tmp_path)
    path = (ROOT if where == "checkout" else tmp_path) / "probe.py"  # never written: jedi only needs a location
    for module, name, file in TARGETS:
        script = jedi.Script(f"from {module} import {name}\n{name}\n", path=path, environment=env, project=project)
        found = script.goto(2, 0, follow_imports=True)
        assert found, f"{module}.{name}: jedi found no definition ({where})"
        target = Path(found[0].module_path).resolve()
        assert target == (ROOT / file).resolve(), f"{module}.{name} -> {target}"
        line = (ROOT / file).read_text().splitlines()[found[0].line - 1]
        assert f"{name}" in line and line.lstrip().startswith(("class ", "def ")), line
