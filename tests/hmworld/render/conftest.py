"""Fixtures of the renderer tests."""
from __future__ import annotations

from pathlib import Path

import pytest

from hmworld.assets import zeroad


@pytest.fixture(scope="session")
def real_cache() -> Path:
    """The installed 0 A.D. asset cache (scripts/setup.sh installs it): its absence is a failure, never a skip."""
    try:
        return zeroad.require_cache()
    except zeroad.AssetsMissing as exc:
        pytest.fail(str(exc))
