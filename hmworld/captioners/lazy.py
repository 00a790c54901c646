"""Registering a captioner without importing it: the factory imports its module on first use, so
`import hmworld.captioners` (and `captioner=template`) never pulls in torch or transformers."""
from __future__ import annotations

import importlib
from typing import Callable

from hmworld.captioners.base import Captioner


def lazy_factory(module: str, attr: str) -> Callable[..., Captioner]:
    def factory(**options) -> Captioner:
        return getattr(importlib.import_module(module), attr)(**options)

    factory.__qualname__ = f"lazy_factory({module}.{attr})"
    return factory
