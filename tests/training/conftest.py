"""Fixtures for the training tests: a tiny rendered split, tiny encoders saved to folders, their caches.

Nothing downloads (offline flags below); every model is a tiny random-initialised instance of the real class.
"""
from __future__ import annotations

import os
import shutil
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
os.environ.setdefault("HF_DATASETS_OFFLINE", "1")

import pytest  # noqa: E402

from training_testlib import render_tiny_split, save_tiny_umt5, save_tiny_vae, tiny_model_cfg  # noqa: E402


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
