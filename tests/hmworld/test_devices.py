"""hmworld.devices: the one device choice, dtype table and native-library load order."""
from __future__ import annotations

import importlib.util
import subprocess
import sys

import pytest
import torch

from hmworld.devices import DTYPE_NAMES, select_device, torch_dtype
from hmworld.errors import ConfigError


def test_select_device_resolves_auto_only():
    want = "cuda" if torch.cuda.is_available() else "cpu"
    assert select_device("auto") == select_device(None) == select_device("") == want
    assert select_device("cpu") == "cpu" and select_device("cuda:1") == "cuda:1"


def test_dtype_names_and_their_short_forms():
    assert torch_dtype("bf16") is torch_dtype("bfloat16") is torch.bfloat16
    assert torch_dtype(None) is torch.float32 and torch_dtype(None, default="fp16") is torch.float16
    assert {torch_dtype(n) for n in DTYPE_NAMES} == {torch.float32, torch.bfloat16, torch.float16}
    with pytest.raises(ConfigError, match="model.vae.dtype='fp8': unknown dtype"):
        torch_dtype("fp8", setting="model.vae.dtype")


def test_the_model_and_the_captioners_share_the_table():
    from hmworld.captioners.vlm import CaptionerError, resolve_dtype
    from hmworld.model.components import dtype_of

    assert dtype_of("fp16") is resolve_dtype("fp16") is torch.float16
    assert resolve_dtype("auto") == "auto"
    with pytest.raises(CaptionerError, match="captioner dtype='int8'"):
        resolve_dtype("int8")


@pytest.mark.skipif(importlib.util.find_spec("triton") is None, reason="triton is not installed")
def test_load_triton_first_loads_triton():
    code = ("import sys; from hmworld.devices import load_triton_first; load_triton_first(); "
            "print('triton' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120, check=True)
    assert out.stdout.strip() == "True"
