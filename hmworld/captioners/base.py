"""The captioner interface: a batch of CaptionRequests in, one caption per request out.

A request carries the clip's metadata as phrases (so a metadata captioner needs no catalog) and the
path of the rendered video (so a vision-language captioner can look at it). `name` is recorded per clip
as `caption_source`.
"""
from __future__ import annotations

import abc
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Sequence

from hmworld.errors import ConfigError


@dataclass(frozen=True)
class SubjectMotion:
    description: str  # "a man in a red hoodie"
    gait: str  # "walks"
    path: str  # "in a wide arc"


@dataclass(frozen=True)
class CaptionRequest:
    clip_id: str
    scene: str  # "a sunlit stone courtyard"
    subjects: tuple[SubjectMotion, ...]
    camera: str  # "pans left away from the subjects and back"
    video_path: Path | None = None
    extra: dict = field(default_factory=dict)


class Captioner(abc.ABC):
    name: str = "abstract"

    @abc.abstractmethod
    def caption(self, requests: Sequence[CaptionRequest]) -> list[str]:
        """One caption per request, in order."""

    def close(self) -> None:  # noqa: B027 - optional hook
        pass


_REGISTRY: dict[str, Callable[..., Captioner]] = {}


def register_captioner(name: str, factory: Callable[..., Captioner]) -> None:
    _REGISTRY[name] = factory


def build_captioner(cfg) -> Captioner:
    """From the `captioner` config group: {name: ..., other constructor arguments}."""
    options = dict(cfg)
    name = options.pop("name")
    if name not in _REGISTRY:
        raise ConfigError(f"unknown captioner {name!r}; available: {sorted(_REGISTRY)}")
    return _REGISTRY[name](**options)
