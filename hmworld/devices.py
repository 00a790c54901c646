"""Where torch work runs, in which dtype, and the one native-library load order it needs: defined once for the
model, the metrics, the captioners, the study and the commands. torch is imported only when a function needs it.
"""
from __future__ import annotations

import importlib.util
import sys

from hmworld.errors import ConfigError

# Accepted dtype names (and their short forms) -> torch attribute names.
DTYPE_NAMES = {"float32": "float32", "fp32": "float32", "bfloat16": "bfloat16", "bf16": "bfloat16",
               "float16": "float16", "fp16": "float16"}


def select_device(device: str | None = None) -> str:
    """The device asked for; `auto` (or nothing) is cuda when torch sees one, else cpu."""
    name = str(device or "auto")
    if name != "auto":
        return name
    import torch

    return "cuda" if torch.cuda.is_available() else "cpu"


def torch_dtype(name: str | None, default: str = "float32", setting: str = "dtype"):
    """The torch dtype of a name in DTYPE_NAMES (None: `default`); an unknown name is a ConfigError naming
    `setting`."""
    key = str(name or default)
    if key not in DTYPE_NAMES:
        raise ConfigError(f"{setting}={key!r}: unknown dtype; use one of {sorted(DTYPE_NAMES)}")
    import torch

    return getattr(torch, DTYPE_NAMES[key])


def load_triton_first() -> None:
    """Import triton (when installed) before any EGL context exists.

    Triton links its own LLVM and the embedded renderer's Mesa llvmpipe links the system's: loading triton after
    Mesa has initialised crashes the process (segfault inside triton's LLVM set-up, seen with triton 3.8 and
    LLVM 15), while the other order works. torch and transformers import triton lazily (torch._dynamo), so
    whatever may render calls this first: the renderer before its context, the captioners from their
    constructor (the render job captions after rendering). About 0.3 s, once.
    """
    if "triton" not in sys.modules and importlib.util.find_spec("triton") is not None:
        import triton  # noqa: F401
