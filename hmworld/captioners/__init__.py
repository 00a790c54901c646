"""Captioners: `template` (default, from metadata); vision-language captioners register themselves here."""
from hmworld.captioners.base import CaptionRequest, Captioner, SubjectMotion, build_captioner, register_captioner
from hmworld.captioners import template  # noqa: F401  (registers "template")
from hmworld.captioners.lazy import lazy_factory
register_captioner("minicpm", lazy_factory("hmworld.captioners.minicpm", "MiniCPMCaptioner"))  # MiniCPM-V, remote code or native
register_captioner("vlm", lazy_factory("hmworld.captioners.vlm", "VLMCaptioner"))  # any transformers image-text-to-text model

__all__ = ["CaptionRequest", "Captioner", "SubjectMotion", "build_captioner", "register_captioner"]
