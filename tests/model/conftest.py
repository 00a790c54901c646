"""Fixtures for the model tests.

`hmworld.model` is normally importable through the editable install (pyproject maps model/ into the hmworld
namespace). While that install is unavailable (e.g. a checkout where other packages are still missing), map
the folder by hand so these tests exercise the same files.
"""
from __future__ import annotations

import importlib
import importlib.util
import sys
from pathlib import Path

import pytest
import torch


def _ensure_model_package() -> None:
    try:
        importlib.import_module("hmworld.model")
        return
    except ImportError:
        pass
    root = Path(__file__).resolve().parents[2]
    spec = importlib.util.spec_from_file_location(
        "hmworld.model", root / "model" / "__init__.py", submodule_search_locations=[str(root / "model")]
    )
    module = importlib.util.module_from_spec(spec)
    sys.modules["hmworld.model"] = module
    spec.loader.exec_module(module)


_ensure_model_package()


@pytest.fixture
def gen():
    """Factory of seeded torch generators: every random tensor in these tests comes from one."""
    return lambda seed=0: torch.Generator().manual_seed(seed)
