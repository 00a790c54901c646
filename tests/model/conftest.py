"""Fixtures for the model and training tests: seeded generators, tiny encoders saved to folders and loaded back
through the real loaders, the tiny split's latent cache. Nothing downloads (tests/environment.py); every model is
a tiny random-initialised instance of the real class. The tiny split itself is the root conftest's."""
from __future__ import annotations

import shutil
from pathlib import Path

import pytest
import torch

from tests.environment import shared_folder
from tests.model.testlib import save_tiny_umt5, save_tiny_vae, tiny_model_cfg


@pytest.fixture
def gen():
    """Factory of seeded torch generators: every random tensor in these tests comes from one."""
    return lambda seed=0: torch.Generator().manual_seed(seed)


@pytest.fixture(scope="session")
def tiny_assets() -> dict:
    """Saved once per run (shared by xdist workers): the latent cache below records these folders."""
    def build(root: Path) -> Path:
        save_tiny_vae(root / "vae")
        save_tiny_umt5(root / "umt5")
        return root

    root = shared_folder("tiny_assets", build)
    return {"vae": root / "vae", "text": root / "umt5"}


@pytest.fixture(scope="session")
def model_cfg(tiny_assets) -> dict:
    """The tiny model on the saved tiny VAE and tiny UMT5 (loaded through the real loaders)."""
    return tiny_model_cfg(tiny_assets["vae"], tiny_assets["text"])


@pytest.fixture(scope="session")
def cached_split(tiny_split, model_cfg) -> Path:
    """The shared tiny split with its latent cache built for `model_cfg` (the cache adds files beside the clips
    and changes nothing that other areas read). Read-only; copy it to modify."""
    from hmworld.model.cache import LatentCache

    def build(_: Path) -> Path:
        LatentCache(tiny_split, model_cfg).build()
        return tiny_split

    return shared_folder("latent_cache", build)


@pytest.fixture
def split_copy(cached_split, tmp_path) -> Path:
    dst = tmp_path / "split"
    shutil.copytree(cached_split, dst)
    return dst
