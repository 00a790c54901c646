"""The canonical English for caption facts (`hmworld.captioners.facts`): a subject's motion relative to the
camera, when it leaves and re-enters the view, and the camera's motion. One place, so the template captioner,
the VLM prompt's hints and the request's `camera` field all say the same thing the same way.

Only the object pronoun ("her", "him", "them", "it") is used inside shared sentences; a sentence with the
subject as its grammatical subject goes through `_agree` so "they" gets plural verbs.
"""
from __future__ import annotations

from dataclasses import replace
from typing import Sequence

from hmworld.captioners.base import CameraPhase, MotionPhase, SubjectMotion, Visibility

OBJECT = {"he": "him", "she": "her", "it": "it", "they": "them"}
# A camera moving slower than a stroll or faster than a brisk walk is worth saying so; in between it is the
# walking pace of HM-World's handheld tracking shots.
SLOW_PACE, FAST_PACE = 0.6, 2.2  # m/s
WHIP_RATE = 150.0  # degrees per second: faster pans blur the whole frame: a whip pan
SLIGHT_DEG = 20.0  # pans smaller than this are "slight"


def _agree(pronoun: str, singular: str, plural: str) -> str:
    return plural if pronoun == "they" else singular


def object_pronoun(s: SubjectMotion) -> str:
    return OBJECT.get(s.pronoun, "them")


def short_name(description: str) -> str:
    """"a man in a grey suit" -> "the man"; "a golden retriever" -> "the golden retriever"."""
    words = description.split()
    if words and words[0].lower() in ("a", "an", "the"):
        words = words[1:]
    for stop in ("in", "with", "dressed", "wearing", "carrying"):
        if stop in words[1:]:
            words = words[:words.index(stop, 1)]
    return "the " + " ".join(words)


def references(subjects: Sequence[SubjectMotion]) -> dict[int | None, str]:
    """How the camera sentence refers to each subject: its object pronoun when it is the only visible subject,
    else "the man" (or the full description with "the" when two share the short name): with several
    subjects a pronoun could point at either."""
    if len(subjects) == 1:
        return {subjects[0].instance_id: object_pronoun(subjects[0])}
    shorts = [short_name(s.description) for s in subjects]
    return {s.instance_id: sh if shorts.count(sh) == 1 else "the " + s.description.split(" ", 1)[-1]
            for s, sh in zip(subjects, shorts)}


def _group(ids: Sequence[int], refs: dict) -> str:
    """Several subjects in one phrase: every visible one is "both of them" / "all of them"."""
    named = [refs[i] for i in ids if i in refs]
    if len(named) >= 2 and len(named) == len(refs):
        return "both of them" if len(named) == 2 else "all of them"
    return _join(named)


def _join(items: Sequence[str]) -> str:
    items = list(items)
    if len(items) <= 1:
        return "".join(items)
    return ", ".join(items[:-1]) + " and " + items[-1]


# ------------------------------------------------------------------------------------------- subjects
def _with_camera(p: MotionPhase, obj: str) -> str:
    """The clause saying how the camera moves with the subject during `p` ("" when it does not)."""
    if p.camera == "leads":
        return f" as it moves backwards ahead of {obj}"
    if p.camera == "follows":
        return f", which follows {obj} from behind"
    if p.camera == "alongside":
        return f" with the camera moving alongside {obj}"
    return ""


def _phase_phrase(p: MotionPhase, gait: str, obj: str) -> str:
    if p.motion == "still":
        text = "stands still"
        if p.turn_deg >= 120:
            text += " and turns around"
        elif p.turn_deg >= 45:
            text += " and turns"
        return text
    if p.motion == "towards":
        text = f"{gait} towards the camera"
    elif p.motion == "away":
        text = f"{gait} away from the camera"
    else:
        frm, to = ("left", "right") if p.motion == "right" else ("right", "left")
        text = f"{gait} across the view from {frm} to {to}" if p.crosses else f"{gait} to the {to}"
    return text + _with_camera(p, obj)


def _next_phrase(prev: MotionPhase, p: MotionPhase, gait: str, obj: str) -> str:
    """Phase `p` told after `prev`: "stops", "turns and walks to the left", "keeps going as the camera ..."."""
    if p.motion == "still":
        return "stops" + (" and turns around" if p.turn_deg >= 120 else " and turns" if p.turn_deg >= 45 else "")
    if prev.motion == p.motion:  # same way, only the camera changed what it does
        if p.camera:
            return "keeps going" + (_with_camera(p, obj) if p.camera != "alongside" else
                                    f" with the camera now moving alongside {obj}")
        return f"keeps going as the camera stops moving with {obj}"
    if prev.motion == "still":
        return _phase_phrase(p, gait, obj)
    opposite = {("towards", "away"), ("away", "towards"), ("left", "right"), ("right", "left")}
    turn = "turns around and " if (prev.motion, p.motion) in opposite else "turns and "
    return turn + _phase_phrase(p, gait, obj)


def motion_phrase(s: SubjectMotion) -> str:
    """The subject's motion relative to the camera as a predicate: "walks towards the camera as it moves
    backwards ahead of her, then turns and walks to the left". Empty when its geometry is unknown."""
    if not s.phases:
        return ""
    obj = object_pronoun(s)
    parts = [_phase_phrase(s.phases[0], s.gait, obj)]
    parts += [_next_phrase(prev, p, s.gait, obj) for prev, p in zip(s.phases, s.phases[1:])]
    return ", then ".join(parts)


def with_motion_phrase(s: SubjectMotion) -> SubjectMotion:
    return replace(s, motion=motion_phrase(s))


def when(frame: int, vis: Visibility) -> str:
    """"early in the first half", "near the end of the first half", "at the start of the second half" ..."""
    c, n = vis.context_frames, vis.num_frames
    half, start, length = ("first", 0, c) if frame < c else ("second", c, n - c)
    x = (frame - start) / max(length, 1)
    if half == "second" and x < 0.08:
        return "at the start of the second half"
    if x < 0.3:
        return f"early in the {half} half"
    if x > 0.7:
        return f"near the end of the {half} half"
    return f"in the middle of the {half} half"


def _later(frames: int, fps: float) -> str:
    seconds = frames / fps
    if seconds < 0.8:
        return "a moment later"
    if seconds < 1.5:
        return "about a second later"
    return f"about {round(seconds)} seconds later"


def visibility_phrase(s: SubjectMotion) -> str:
    """Entering, leaving and coming back, as a predicate for the subject ("leaves the view near the end of the
    first half and comes back about a second later, early in the second half"); empty when it stays in view
    from the first frame to the last (or nothing is known)."""
    vis = s.visibility
    if vis is None:
        return ""
    p = s.pronoun
    leaves, comes = _agree(p, "leaves", "leave"), _agree(p, "comes", "come")
    if vis.intervals is None:  # no masks: the events are all that is known
        if not vis.events:
            return ""
        ex, en = vis.events[0]
        return (f"{leaves} the view {when(ex, vis)} and {comes} back {_later(en - ex, vis.fps)}, "
                f"{when(en, vis)}")
    iv = vis.intervals
    if not iv:
        return ""
    parts = []
    if iv[0][0] > 0:
        parts.append(f"{comes} into view {when(iv[0][0], vis)}")
    gaps = [(b, a2) for (_, b), (a2, _) in zip(iv, iv[1:])]
    if len(gaps) == 1:
        ex, en = gaps[0]
        parts.append(f"{leaves} the view {when(ex, vis)} and {comes} back {_later(en - ex, vis.fps)}, "
                     f"{when(en, vis)}")
    elif gaps:
        times = {2: "twice", 3: "three times"}.get(len(gaps), f"{len(gaps)} times")
        parts.append(f"{leaves} the view and {comes} back {times}")
    if iv[-1][1] < vis.num_frames:
        parts.append(f"{leaves} the view {when(iv[-1][1], vis)} and {_agree(p, 'does', 'do')} not come back")
    return ", then ".join(parts)


def visibility_sentence(s: SubjectMotion) -> str:
    text = visibility_phrase(s)
    return f"{s.pronoun.capitalize()} {text}." if text else ""


# ------------------------------------------------------------------------------------------- camera
def _pace(speed: float) -> str:
    if speed < SLOW_PACE:
        return "slowly"
    if speed > FAST_PACE:
        return "quickly"
    return "at a walking pace"


def _acts(ph: CameraPhase) -> list[tuple[tuple, str, str]]:
    """The phase's motions as (identity, predicate, gerund), in the order a sentence tells them. The identity
    tells a motion carried on from the previous phase from a new one."""
    acts = []
    if ph.orbit:
        acts.append((("orbit", ph.move), f"circles to the {ph.move}", f"circling to the {ph.move}"))
    elif ph.move:
        where = {"forward": "forward", "backward": "backwards"}.get(ph.move, f"to the {ph.move}")
        pace = _pace(ph.speed)
        told = f"moves {where} {pace}" if pace.startswith("at ") else f"moves {pace} {where}"
        acts.append((("move", ph.move), told, f"moving {where}"))
    if ph.rise:
        acts.append((("rise", ph.rise), *(("rises", "rising") if ph.rise == "up" else ("lowers", "lowering"))))
    if ph.pan and not ph.orbit:
        whip = ph.pan_rate >= WHIP_RATE
        how = f"{'back ' if ph.back else ''}{'slightly ' if ph.pan_deg < SLIGHT_DEG else ''}{ph.pan}"
        acts.append((("pan", ph.pan, ph.back, ph.pan_deg), f"{'whips' if whip else 'pans'} {how}",
                     f"{'whipping' if whip else 'panning'} {how}"))
    if ph.tilt:
        acts.append((("tilt", ph.tilt), f"tilts {ph.tilt}", f"tilting {ph.tilt}"))
    if ph.roll:
        acts.append((("roll", ph.roll), f"rolls to the {ph.roll}", f"rolling to the {ph.roll}"))
    return acts


def _camera_phase(ph: CameraPhase, prev: CameraPhase | None, refs: dict, first: bool) -> str:
    """One phase as a predicate; `first`: the subjects it brings into view were not seen before. A motion
    carried on from the previous phase is not told again (the camera keeps doing it until the caption says
    it stops), so a tracking shot reads "moves backwards ..., then pans right ..., then pans back left"."""
    if ph.still:
        if prev is None:
            return "holds still"
        return "stops" if prev.move or prev.rise else "holds still"
    acts = _acts(ph)
    before = {key for key, _, _ in _acts(prev)} if prev is not None else set()
    new = [text for key, text, _ in acts if key not in before]
    going_on = [gerund for key, _, gerund in acts if key in before]
    stopping = prev is not None and bool(prev.move) and not ph.move
    lost, found = _group(ph.lost, refs), _group(ph.found, refs)
    if new:
        text = ("stops and " if stopping else "") + _join(new)
    elif stopping:  # e.g. it stops walking halfway through a pan
        text = "stops but keeps " + _join(going_on)
    elif lost or found:  # nothing changes in how it moves, but what it sees does
        text = "keeps " + _join(going_on)
    else:  # only a motion ended (a pan while it keeps moving): nothing new to tell
        return ""
    if lost:
        text += f" away from {lost}"
    if found:
        text += f", bringing {found} {'' if first else 'back '}into view"
    return text


def camera_prose(phases: Sequence[CameraPhase], subjects: Sequence[SubjectMotion]) -> str:
    """The camera's motion as a predicate ("moves backwards at a walking pace, then stops and pans right away
    from her, then pans back left, bringing her back into view"); "holds still throughout" for a locked-off
    shot. Subjects are referred to as `references` decides."""
    if not phases:
        return ""
    if all(p.still for p in phases):
        return "holds still throughout"
    refs = references(subjects)
    parts, prev = [], None
    for ph in phases:
        text = _camera_phase(ph, prev, refs, _entering_first_time(ph, subjects))
        if text:
            parts.append(text)
        prev = ph
    # A trailing pause of a moving shot says nothing once the motion has been told.
    if len(parts) > 1 and phases[-1].still and parts[-1] == "holds still":
        parts = parts[:-1]
    return ", then ".join(parts)


def _entering_first_time(ph: CameraPhase, subjects: Sequence[SubjectMotion]) -> bool:
    """True when every subject this phase brings into view had not been in view before (the phase holds the
    start of its first visible interval), so the caption says "into view", not "back into view"."""
    if not ph.found:
        return False
    by_id = {s.instance_id: s for s in subjects}
    for iid in ph.found:
        vis = by_id[iid].visibility if iid in by_id else None
        if vis is None or not vis.intervals:
            return False
        first = vis.intervals[0][0]
        if not (0 < first and ph.start <= first < ph.end):
            return False
    return True
