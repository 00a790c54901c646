"""Renderers: `embedded` (moderngl + EGL, the default) and, where registered, `unrealcv` (Unreal Engine 5)."""
from __future__ import annotations

from typing import Callable

from hmworld.catalog import Catalog
from hmworld.errors import ConfigError
from hmworld.render.base import Frame, Renderer

_REGISTRY: dict[str, Callable[..., Renderer]] = {}


def register_renderer(name: str, factory: Callable[..., Renderer]) -> None:
    _REGISTRY[name] = factory


def _embedded(catalog: Catalog, **kwargs) -> Renderer:
    from hmworld.render.embedded import EmbeddedRenderer  # moderngl is imported only when used

    return EmbeddedRenderer(catalog, **kwargs)


register_renderer("embedded", _embedded)


def _unrealcv(catalog: Catalog, **kwargs) -> Renderer:
    from hmworld.render.unreal import UnrealCVRenderer  # the unrealcv client (and cv2, docker) only when used

    return UnrealCVRenderer(catalog, **kwargs)


register_renderer("unrealcv", _unrealcv)


def build_renderer(cfg, catalog: Catalog, **overrides) -> Renderer:
    """From the `renderer` config group: {name: ..., runtime: {...}, other constructor arguments}.

    Keys under `runtime` (connection, launch, timeouts) are passed as constructor arguments too, but are
    not part of the split's identity.
    """
    options = dict(cfg)
    name = options.pop("name")
    options.update(dict(options.pop("runtime", None) or {}))
    if name not in _REGISTRY:
        raise ConfigError(f"unknown renderer {name!r}; available: {sorted(_REGISTRY)}")
    return _REGISTRY[name](catalog, **options, **overrides)


__all__ = ["Frame", "Renderer", "build_renderer", "register_renderer"]
