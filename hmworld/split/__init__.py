"""The split format (see README "Split format"): writer, reader, the manifest schema and the per-clip file schema.

Names load on first use, so that importing `hmworld.split.schema` (events, captioners, metrics) does not pull in
pandas and the video reader.
"""
from __future__ import annotations

import importlib

_LAZY = {"FORMAT_VERSION": "format", "ClipRecord": "format", "CameraTrack": "reader", "Clip": "reader",
         "Split": "reader", "CameraFile": "schema", "SubjectsFile": "schema", "EventsFile": "schema",
         "SchemaError": "schema"}
__all__ = sorted(_LAZY)


def __getattr__(name: str):
    if name not in _LAZY:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(f"{__name__}.{_LAZY[name]}"), name)
    globals()[name] = value
    return value
