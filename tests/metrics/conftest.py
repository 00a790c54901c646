"""Shared set-up for the metrics tests: offline switches first, then tiny random-initialised models of the
real classes, saved into a weights folder and loaded back through hmworld.metrics' own loaders."""
import os
import tempfile

# Before ultralytics / huggingface_hub import: never download, never pip-install, settings in a temp dir.
os.environ["YOLO_OFFLINE"] = "1"
os.environ["YOLO_AUTOINSTALL"] = "0"
os.environ["YOLO_CONFIG_DIR"] = tempfile.mkdtemp(prefix="hmworld-yolo-cfg-")
os.environ["HF_HUB_OFFLINE"] = "1"
os.environ["HMWORLD_OFFLINE"] = "1"
os.environ.setdefault("OMP_NUM_THREADS", "2")

import pytest  # noqa: E402

from tests.metrics.testlib import TINY_CLIP, TINY_DINO, build_tiny_weights  # noqa: E402


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
