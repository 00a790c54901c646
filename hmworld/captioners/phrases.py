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
    """How the camera sentence refers to each subject: its object pronoun when no other visible subject shares
    it, else "the man" (or the full description with "the" when two share the short name too)."""
    pronouns = [s.pronoun for s in subjects]
    shorts = [short_name(s.description) for s in subjects]
    out = {}
    for s, p, sh in zip(subjects, pronouns, shorts):
        if pronouns.count(p) == 1 and p != "they":
            out[s.instance_id] = OBJECT[p]
        elif shorts.count(sh) == 1:
            out[s.instance_id] = sh
        else:
            out[s.instance_id] = "the " + s.description.split(" ", 1)[-1]
    return out


def _join(items: Sequence[str]) -> str:
    items = list(items)
    if len(items) <= 1:
        return "".join(items)
    return ", ".join(items[:-1]) + " and " + items[-1]


# ------------------------------------------------------------------------------------------- subjects
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
        if p.camera == "leads":
            text += f" as it moves backwards ahead of {obj}"
        return text
    if p.motion == "away":
        text = f"{gait} away from the camera"
        if p.camera == "follows":
            text += f", which follows {obj} from behind"
        return text
    frm, to = ("left", "right") if p.motion == "right" else ("right", "left")
    if p.crosses:
        text = f"{gait} across the view from {frm} to {to}"
    else:
        text = f"{gait} to the {to}"
    if p.camera == "alongside":
        text += f" with the camera moving alongside {obj}"
    return text


def _turn_into(prev: MotionPhase, p: MotionPhase) -> str:
    """The words joining two consecutive phases."""
    if p.motion == "still":
        return "stops" + (" and turns around" if p.turn_deg >= 120 else " and turns" if p.turn_deg >= 45 else "")
    if prev.motion == "still":
        return ""
    opposite = {("towards", "away"), ("away", "towards"), ("left", "right"), ("right", "left")}
    return "turns around and" if (prev.motion, p.motion) in opposite else "turns and"


def motion_phrase(s: SubjectMotion) -> str:
    """The subject's motion relative to the camera as a predicate: "walks towards the camera as it moves
    backwards ahead of her, then turns and walks to the left". Empty when its geometry is unknown."""
    if not s.phases:
        return ""
    obj = object_pronoun(s)
    parts = [_phase_phrase(s.phases[0], s.gait, obj)]
    for prev, p in zip(s.phases, s.phases[1:]):
        lead = _turn_into(prev, p)
        if p.motion == "still":
            parts.append(lead)
        else:
            parts.append(" ".join(x for x in (lead, _phase_phrase(p, s.gait, obj)) if x))
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


def _acts(ph: CameraPhase) -> list[tuple[tuple, str]]:
    """The phase's motions as ((track, value), predicate) pairs, in the order a sentence tells them."""
    acts = []
    if ph.orbit:
        acts.append((("move", ph.move, "orbit"), f"circles to the {ph.move}"))
    elif ph.move:
        where = {"forward": "forward", "backward": "backwards"}.get(ph.move, f"to the {ph.move}")
        acts.append((("move", ph.move), f"moves {where} {_pace(ph.speed)}"))
    if ph.rise:
        acts.append((("rise", ph.rise), "rises" if ph.rise == "up" else "lowers"))
    if ph.pan and not ph.orbit:
        verb = "whips" if ph.pan_rate >= WHIP_RATE else "pans"
        amount = "slightly " if ph.pan_deg < SLIGHT_DEG else ""
        acts.append((("pan", ph.pan, ph.back), f"{verb} {'back ' if ph.back else ''}{amount}{ph.pan}"))
    if ph.tilt:
        acts.append((("tilt", ph.tilt), f"tilts {ph.tilt}"))
    if ph.roll:
        acts.append((("roll", ph.roll), f"rolls to the {ph.roll}"))
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
    before = {key for key, _ in _acts(prev)} if prev is not None else set()
    told = [text for key, text in acts if key not in before]
    if not told:  # only a motion ended (a pan while it keeps moving): nothing new to tell
        return ""
    text = _join(told)
    if prev is not None and prev.move and not ph.move:
        text = "stops and " + text
    lost = [refs[i] for i in ph.lost if i in refs]
    found = [refs[i] for i in ph.found if i in refs]
    if lost:
        text += f" away from {_join(lost)}"
    if found:
        text += f", bringing {_join(found)} {'' if first else 'back '}into view"
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
    """True when every subject this phase brings into view was not in view before (its first interval starts
    in this phase), so the caption says "into view", not "back into view"."""
    if not ph.found:
        return False
    by_id = {s.instance_id: s for s in subjects}
    for iid in ph.found:
        vis = by_id[iid].visibility if iid in by_id else None
        if vis is None or vis.intervals is None or not vis.intervals or vis.intervals[0][0] < ph.start:
            return False
    return True
