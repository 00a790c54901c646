"""Shared fixtures: the catalog and one small rendered split (helpers live in tests/testlib.py)."""
from __future__ import annotations

from pathlib import Path

import pytest

from hmworld.catalog import load_catalog
from tests.testlib import SMALL, run_cli


@pytest.fixture(scope="session")
def catalog():
    return load_catalog()


@pytest.fixture(scope="session")
def small_split(tmp_path_factory) -> Path:
    """The issue's reference command: 3 clips, seed 7, 160x96, 21 + 21 frames."""
    out = tmp_path_factory.mktemp("split") / "train"
    run_cli("render", f"out={out}", "num_clips=3", "seed=7", *SMALL, "progress=false")
    return out
