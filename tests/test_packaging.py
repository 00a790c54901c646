"""The build maps model/, metrics/, benchmark/ and render_configs/ into the hmworld namespace, completely."""
import importlib
import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def test_every_python_folder_is_a_listed_package():
    cfg = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]
    listed, mapping = set(cfg["packages"]), cfg["package-dir"]
    found = set()
    for name, folder in mapping.items():
        for init in (ROOT / folder).rglob("__init__.py"):
            rel = init.parent.relative_to(ROOT / folder)
            found.add(".".join([name, *rel.parts]))
    assert found == listed, f"unlisted: {sorted(found - listed)}, listed but missing: {sorted(listed - found)}"


def test_namespace_mapping_and_no_top_level_generic_names():
    for name, folder in (("hmworld.model", "model"), ("hmworld.metrics", "metrics"),
                         ("hmworld.benchmark", "benchmark"), ("hmworld.render_configs", "render_configs")):
        mod = importlib.import_module(name)
        assert Path(mod.__file__).resolve().parent == (ROOT / folder).resolve()
    assert not (ROOT / "hydra").exists()  # hydra-core owns that import name
