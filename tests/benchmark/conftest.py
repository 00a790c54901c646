"""Benchmark tests: a tiny weights folder and the small split's submissions, shared by the session (offline and
with empty library caches: tests/environment.py; helpers in tests/benchmark/testlib.py)."""
from pathlib import Path

import pytest


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
