"""Fixtures for the model and training tests: seeded generators, a tiny rendered split, tiny encoders saved to
folders, their caches. Nothing downloads; every model is a tiny random-initialised instance of the real class.

`hmworld.model` is normally importable through the editable install (pyproject maps model/ into the hmworld
namespace). While that install is unavailable (e.g. a checkout where other packages are still missing), map
the folder by hand so these tests exercise the same files.
"""
from __future__ import annotations

import importlib
import importlib.util
import os
import shutil
import sys
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
os.environ.setdefault("HF_DATASETS_OFFLINE", "1")

import pytest  # noqa: E402
import torch  # noqa: E402


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

from tests.model.testlib import render_tiny_split, save_tiny_umt5, save_tiny_vae, tiny_model_cfg  # noqa: E402


@pytest.fixture
def gen():
    """Factory of seeded torch generators: every random tensor in these tests comes from one."""
    return lambda seed=0: torch.Generator().manual_seed(seed)


@pytest.fixture(scope="session")
def tiny_split(tmp_path_factory) -> Path:
    """2 clips, 64x64, 21 + 21 frames (6 + 6 latents), rendered once per session. Treat as read-only."""
    return render_tiny_split(tmp_path_factory.mktemp("tsplit") / "split", num_clips=2)


@pytest.fixture(scope="session")
def tiny_assets(tmp_path_factory) -> dict:
    root = tmp_path_factory.mktemp("assets")
    return {"vae": save_tiny_vae(root / "vae"), "text": save_tiny_umt5(root / "umt5")}


@pytest.fixture(scope="session")
def model_cfg(tiny_assets) -> dict:
    """The tiny model on the saved tiny VAE and tiny UMT5 (loaded through the real loaders)."""
    return tiny_model_cfg(tiny_assets["vae"], tiny_assets["text"])


@pytest.fixture(scope="session")
def cached_split(tiny_split, model_cfg) -> Path:
    """The tiny split with its cache built for `model_cfg` (read-only; copy it to modify)."""
    from hmworld.model.cache import LatentCache

    LatentCache(tiny_split, model_cfg).build()
    return tiny_split


@pytest.fixture
def split_copy(cached_split, tmp_path) -> Path:
    dst = tmp_path / "split"
    shutil.copytree(cached_split, dst)
    return dst
