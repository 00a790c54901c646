"""Captioners: `template` (default, from metadata); vision-language captioners register themselves here."""
from hmworld.captioners.base import CaptionRequest, Captioner, SubjectMotion, build_captioner, register_captioner
from hmworld.captioners import template  # noqa: F401  (registers "template")

__all__ = ["CaptionRequest", "Captioner", "SubjectMotion", "build_captioner", "register_captioner"]
