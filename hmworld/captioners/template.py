"""The default captioner: one HM-World-style paragraph from the clip's facts (hmworld.captioners.facts).

The surroundings first, then each visible subject (appearance, motion relative to the camera, leaving the view
and coming back), then the camera's own motion. It only ever names the request's subjects, which are the ones
visible in the clip. The wording comes from `phrases` (one source for the facts' English); this module only
chooses among connectors, by a hash of the clip id, so captions vary across clips but never between runs.
"""
from __future__ import annotations

import hashlib
from typing import Sequence

from hmworld.captioners import phrases
from hmworld.captioners.base import CaptionRequest, Captioner, SubjectMotion, register_captioner

_OPENINGS = ("In {scene}, ", "Inside {scene}, ", "The video shows {scene}, where ", "Somewhere in {scene}, ")
_EMPTY = ("The video shows {scene}.", "The scene is {scene}.")
_JOINS = ("Also in view, ", "Nearby, ", "At the same time, ")
_CAMERA = ("The camera {camera}.", "Meanwhile, the camera {camera}.", "As for the camera, it {camera}.")


def _pick(options: Sequence[str], key: str, salt: str) -> str:
    """Deterministic choice from the clip id, so captions vary across clips but never between runs."""
    digest = hashlib.sha256(f"{salt}:{key}".encode()).digest()
    return options[digest[0] % len(options)]


def _subject(s: SubjectMotion) -> str:
    """"a man in a red hoodie walks towards the camera ... . He leaves the view ..." (no leading capital)."""
    predicate = s.predicate
    visibility = phrases.visibility_phrase(s)
    if not predicate:  # geometry unknown (an imported clip): what is known is when it is in view
        return f"{s.description} {visibility or 'is in view'}."
    text = f"{s.description} {predicate}."
    sentence = phrases.visibility_sentence(s)
    return f"{text} {sentence}" if sentence else text


def _capital(text: str) -> str:
    return text[:1].upper() + text[1:]


class TemplateCaptioner(Captioner):
    name = "template"

    def caption(self, requests: Sequence[CaptionRequest]) -> list[str]:
        return [self._one(r) for r in requests]

    def _one(self, r: CaptionRequest) -> str:
        if r.subjects:
            text = _pick(_OPENINGS, r.clip_id, "open").format(scene=r.scene) + _subject(r.subjects[0])
            for s in r.subjects[1:]:
                text += " " + _pick(_JOINS, f"{r.clip_id}:{s.instance_id}:{s.description}", "join") + _subject(s)
        else:
            text = _pick(_EMPTY, r.clip_id, "open").format(scene=r.scene)
        if r.camera:
            text += " " + _pick(_CAMERA, r.clip_id, "camera").format(camera=r.camera)
        return _capital(text)


register_captioner("template", TemplateCaptioner)
