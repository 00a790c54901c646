"""Captioner tests: their own rendered split (3 clips at 64x48, the captioners' frame size; copied per test, since
the tests re-caption in place), and tiny random-initialised VLMs saved to folders and loaded back through the
captioners' own loading code (offline: tests/environment.py)."""
import shutil
from pathlib import Path

import pytest

# Triton (imported by torch._dynamo, which transformers pulls in) crashes when it loads after the embedded
# renderer's Mesa llvmpipe has initialised; loaded first, both work. Other test folders render in-process before
# these tests build a model, so load it at collection time (see hmworld.devices.load_triton_first).
from hmworld.devices import load_triton_first  # noqa: E402

load_triton_first()

from tests.hmworld.captioners.testlib import TINY_VIDEO  # noqa: E402
from tests.testlib import render_config  # noqa: E402


@pytest.fixture(scope="session")
def rendered_split(tmp_path_factory) -> Path:
    """Three clips rendered by the embedded renderer with the template captioner (read-only: copy it)."""
    from hmworld.render_job import run_render

    out = tmp_path_factory.mktemp("rendered") / "train"
    run_render(render_config(f"out={out}", "num_clips=3", "seed=7", *TINY_VIDEO, "progress=false"))
    return out


@pytest.fixture
def split(rendered_split, tmp_path) -> Path:
    """A private copy of the rendered split, for tests that re-caption it in place."""
    dst = tmp_path / "split"
    shutil.copytree(rendered_split, dst)
    return dst


@pytest.fixture(scope="session")
def tiny_qwen(tmp_path_factory) -> Path:
    from tests.hmworld.captioners.models import build_tiny_qwen2_vl

    return build_tiny_qwen2_vl(tmp_path_factory.mktemp("models") / "tiny-qwen2-vl")


@pytest.fixture(scope="session")
def standin_minicpm(tmp_path_factory) -> Path:
    from tests.hmworld.captioners.models import build_standin_minicpm

    return build_standin_minicpm(tmp_path_factory.mktemp("models") / "standin-minicpm-v")


@pytest.fixture
def empty_hf_home(tmp_path, monkeypatch) -> Path:
    """An empty Hugging Face cache, so nothing the machine happens to hold is found."""
    home = tmp_path / "hf-home"
    home.mkdir()
    monkeypatch.setenv("HF_HOME", str(home))
    monkeypatch.delenv("HF_HUB_CACHE", raising=False)
    return home
