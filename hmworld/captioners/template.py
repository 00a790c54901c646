"""The default captioner: fluent sentences from the clip's metadata (scene, subjects, motions, camera)."""
from __future__ import annotations

import hashlib
from typing import Sequence

from hmworld.captioners.base import CaptionRequest, Captioner, register_captioner

_OPENINGS = ("In {scene}, ", "Inside {scene}, ", "The video shows {scene}, where ", "Somewhere in {scene}, ")
_JOINS = (" while ", ", and meanwhile ", "; at the same time ")
_CAMERA = ("The camera {camera}.", "Meanwhile the camera {camera}.", "Throughout, the camera {camera}.")


def _pick(options: Sequence[str], key: str, salt: str) -> str:
    """Deterministic choice from the clip id, so captions vary across clips but never between runs."""
    digest = hashlib.sha256(f"{salt}:{key}".encode()).digest()
    return options[digest[0] % len(options)]


class TemplateCaptioner(Captioner):
    name = "template"

    def caption(self, requests: Sequence[CaptionRequest]) -> list[str]:
        return [self._one(r) for r in requests]

    def _one(self, r: CaptionRequest) -> str:
        opening = _pick(_OPENINGS, r.clip_id, "open").format(scene=r.scene)
        parts = [f"{s.description} {s.gait} {s.path}" for s in r.subjects]
        body = parts[0]
        for extra in parts[1:]:
            body += _pick(_JOINS, r.clip_id + extra, "join") + extra
        text = opening + body + ". " + _pick(_CAMERA, r.clip_id, "camera").format(camera=r.camera)
        return text[0].upper() + text[1:]


register_captioner("template", TemplateCaptioner)
