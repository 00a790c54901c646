"""Metrics tests: tiny random-initialised models of the real classes, saved into a weights folder and loaded
back through hmworld.metrics' own loaders (offline: tests/environment.py)."""
import pytest

from tests.metrics.testlib import TINY_CLIP, TINY_DINO, build_tiny_weights


@pytest.fixture(scope="session")
def weights_dir(tmp_path_factory):
    """A weights folder holding tiny random models under the real file names."""
    d = tmp_path_factory.mktemp("weights")
    build_tiny_weights(d)
    return d


@pytest.fixture(scope="session")
def tiny_models(weights_dir):
    """MetricModels with every tiny model loaded through the production loaders (cpu)."""
    from hmworld.metrics import MetricModels, load_clip, load_dino, load_lpips

    return MetricModels(
        weights_dir=str(weights_dir), device="cpu",
        lpips=load_lpips(weights_dir, "cpu"),
        dino=load_dino(weights_dir, "cpu", arch=TINY_DINO),
        clip=load_clip(weights_dir, "cpu", arch=TINY_CLIP),
    )
