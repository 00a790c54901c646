"""Benchmark tests: offline switches and empty library caches first (nothing downloads, nothing found by
accident), then a tiny weights folder shared by the session (helpers live in tests/benchmark/testlib.py)."""
import os
import tempfile
from pathlib import Path

_caches = Path(tempfile.mkdtemp(prefix="hmworld-bench-caches-"))
os.environ["YOLO_OFFLINE"] = "1"
os.environ["YOLO_AUTOINSTALL"] = "0"
os.environ.setdefault("YOLO_CONFIG_DIR", str(_caches / "yolo"))
os.environ["HF_HUB_OFFLINE"] = "1"
os.environ["HMWORLD_OFFLINE"] = "1"
os.environ["TORCH_HOME"] = str(_caches / "torch")
os.environ["HF_HOME"] = str(_caches / "hf")
os.environ.setdefault("OMP_NUM_THREADS", "2")
os.environ.pop("HMWORLD_WEIGHTS_DIR", None)

import pytest  # noqa: E402


@pytest.fixture(scope="session")
def tiny_weights(tmp_path_factory) -> Path:
    """Tiny random models of the real classes under the real file names (built once per session)."""
    from tests.metrics.testlib import build_tiny_weights

    d = tmp_path_factory.mktemp("bench-weights")
    build_tiny_weights(d)
    return d


@pytest.fixture(scope="session")
def subs(small_split, tmp_path_factory):
    """Submissions of the small split: the ground truth, two noise levels, the two reference predictors."""
    from hmworld.benchmark import predict_baseline
    from tests.benchmark.testlib import gt_copy, make_submission, noisy

    d = tmp_path_factory.mktemp("subs")
    out = {"gt": make_submission(small_split, d / "gt", gt_copy, "gt-copy"),
           "noise8": make_submission(small_split, d / "noise8", noisy(8), "noise-8"),
           "noise32": make_submission(small_split, d / "noise32", noisy(32), "noise-32")}
    for name in ("repeat-last", "mean-context"):
        predict_baseline(name, small_split, d / name)
        out[name] = d / name
    return out


@pytest.fixture(scope="session")
def small_split(tmp_path_factory):
    """The shared small split (tests/conftest.py renders it); HMWORLD_TEST_SMALL_SPLIT=DIR reuses a copy of one
    rendered earlier with the same command (`hmworld render num_clips=3 seed=7` at 160x96, 21 + 21 frames), for
    working trees where rendering is being changed."""
    import shutil

    pre = os.environ.get("HMWORLD_TEST_SMALL_SPLIT")
    if pre:
        out = tmp_path_factory.mktemp("split") / "train"
        shutil.copytree(pre, out)
        return out
    from tests.testlib import SMALL, run_cli

    out = tmp_path_factory.mktemp("split") / "train"
    run_cli("render", f"out={out}", "num_clips=3", "seed=7", *SMALL, "progress=false")
    return out
