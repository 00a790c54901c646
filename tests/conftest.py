"""The one root conftest: the suite's environment (offline, temporary files; see tests/environment.py) and the
fixtures shared by every area: the catalog and one rendered split per size (built once per run, also when
pytest-xdist runs the suite in several worker processes). Area conftests hold only what is
specific to their area. Helpers shared across areas live in tests/testlib.py."""
from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest

# Registered (and so imported) before every area conftest and test module: it applies the offline policy and the
# session folder on import. Keep this module's own imports to the standard library and pytest for that reason.
pytest_plugins = ["tests.environment"]


@pytest.fixture(scope="session")
def catalog():
    from hmworld.catalog import load_catalog

    return load_catalog()


@pytest.fixture(scope="session")
def small_split() -> Path:
    """The issue's reference command through the CLI: `hmworld render num_clips=3 seed=7` at 160x96, 21 + 21
    frames. Shared by the core, render, metrics and benchmark tests: read-only (copy it to modify).

    HMWORLD_TEST_SMALL_SPLIT=DIR uses a copy of a split rendered earlier with that same command instead, for
    working trees where rendering itself is being changed."""
    from tests.environment import shared_folder
    from tests.testlib import SMALL, run_cli

    def build(folder: Path) -> Path:
        out = folder / "train"
        pre = os.environ.get("HMWORLD_TEST_SMALL_SPLIT")
        if pre:
            shutil.copytree(pre, out)
        else:
            run_cli("render", f"out={out}", "num_clips=3", "seed=7", *SMALL, "progress=false")
        return out

    return shared_folder("small_split", build)


@pytest.fixture(scope="session")
def tiny_split() -> Path:
    """2 clips, seed 7, 64x64, 21 + 21 frames (6 + 6 latents), rendered in-process by the embedded renderer.
    Shared by the model, training and metrics tests: read-only (copy it to modify)."""
    from hmworld.devices import load_triton_first
    from hmworld.render_job import run_render
    from tests.environment import shared_folder
    from tests.testlib import TINY, render_config

    # Whatever test asks first, triton must load before the renderer's Mesa (see load_triton_first).
    load_triton_first()

    def build(folder: Path) -> Path:
        run_render(render_config(f"out={folder / 'split'}", "num_clips=2", "seed=7", *TINY, "progress=false"))
        return folder / "split"

    return shared_folder("tiny_split", build)
