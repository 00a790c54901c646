"""The captioner interface: a batch of CaptionRequests in, one caption per request out.

A request carries the clip's metadata as phrases and as typed facts (so a metadata captioner needs no catalog
and no geometry) and the path of the rendered video (so a vision-language captioner can look at it). `name` is
recorded per clip as `caption_source`.

The facts are computed from the clip's geometry and its rendered visibility by `hmworld.captioners.facts`
(one place, used by the render job and by `hmworld caption` alike); the phrases in a request are the facts'
canonical English from `hmworld.captioners.phrases`. Nothing in a request names a catalog trajectory: a
trajectory's name says what the compositor asked for, not what the camera shows.
"""
from __future__ import annotations

import abc
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Sequence

from hmworld.errors import ConfigError


@dataclass(frozen=True)
class Visibility:
    """When a subject is in view. Frames count from 0 at the first context frame; the clip's "first half" is
    the context, its "second half" the target (HM-World's exit-entry events cross that boundary)."""

    num_frames: int
    context_frames: int
    fps: float
    # Half-open [start, end) runs of frames where the subject shows in the instance masks (events.json);
    # None when unknown (imported clips have no masks): then only `events` is known.
    intervals: tuple[tuple[int, int], ...] | None
    # The clip's exit-entry events for this subject (events.json), (exit_frame, entry_frame).
    events: tuple[tuple[int, int], ...] = ()

    @property
    def visible(self) -> bool:
        """Seen in at least one frame. Unknown intervals count as seen: the clip lists the subject, and
        dropping it from a caption on no evidence would be a worse error than keeping it."""
        return self.intervals is None or len(self.intervals) > 0

    @property
    def halves(self) -> tuple[str, ...]:
        """("first",), ("second",) or ("first", "second"): the halves it is seen in (from the events when the
        intervals are unknown: an event means it is seen in both)."""
        if self.intervals is None:
            return ("first", "second") if self.events else ()
        c = self.context_frames
        first = any(a < c for a, _ in self.intervals)
        second = any(b > c for _, b in self.intervals)
        return tuple(h for h, seen in (("first", first), ("second", second)) if seen)

    @property
    def leaves_and_returns(self) -> bool:
        """It leaves the view and comes back at least once (anywhere in the clip; an exit-entry event is the
        case where the hidden run crosses into the second half)."""
        if self.intervals is None:
            return bool(self.events)
        return len(self.intervals) > 1


@dataclass(frozen=True)
class MotionPhase:
    """One stretch of a subject's motion relative to the camera, over frames where it is visible."""

    start: int  # first frame
    end: int  # one past the last frame
    # "towards" | "away" (walking towards / away from the camera), "left" | "right" (across the camera's view,
    # in image terms), "still" (standing)
    motion: str
    speed: float  # m/s over the ground, mean over the phase
    crosses: bool = False  # left/right only: it moves across the image (the camera does not keep up)
    # How the camera moves with it: "" (it does not), "leads" (backs away ahead of it), "follows" (from
    # behind), "alongside" (beside it)
    camera: str = ""
    turn_deg: float = 0.0  # still only: how far it turns on the spot (absolute degrees)


@dataclass(frozen=True)
class SubjectMotion:
    description: str  # "a man in a red hoodie"
    gait: str  # "walks" (the catalog's verb for this subject)
    # Legacy: the phrase after the gait verb in requests built by hand ("in a wide arc"). Requests from
    # `facts` leave it empty and fill `motion` instead.
    path: str = ""
    motion: str = ""  # the whole predicate: "walks towards the camera as it moves backwards ahead of her"
    instance_id: int | None = None
    kind: str = ""  # "human" | "animal" | "" (unknown)
    pronoun: str = "they"  # "he" | "she" | "they" | "it": the catalog description decides for people
    phases: tuple[MotionPhase, ...] = ()  # empty when the geometry is unknown
    visibility: Visibility | None = None  # None: unknown (a request built by hand)

    @property
    def predicate(self) -> str:
        """What the subject does, as words that follow its description."""
        return self.motion or " ".join(p for p in (self.gait, self.path) if p)


@dataclass(frozen=True)
class CameraPhase:
    """One stretch of the camera's own motion, from its poses. Empty strings mean "not doing that"."""

    start: int
    end: int
    move: str = ""  # horizontal translation in the camera's own frame: "forward" | "backward" | "left" | "right"
    speed: float = 0.0  # m/s, mean horizontal speed over the phase
    rise: str = ""  # "up" | "down"
    pan: str = ""  # "left" | "right" (yaw about the world's up axis)
    # The pan this phase is part of (a pan can span phases, e.g. when the camera stops halfway through it):
    pan_deg: float = 0.0  # how far it turns in all (absolute degrees)
    pan_rate: float = 0.0  # its peak yaw rate, degrees per second
    tilt: str = ""  # "up" | "down"
    roll: str = ""  # "left" | "right" (the top of the image tips that way)
    orbit: bool = False  # moving sideways while panning the other way: it circles a point in front of it
    back: bool = False  # the pan undoes the previous pan (about the same size, the other way)
    lost: tuple[int, ...] = ()  # instance ids that leave the view during this phase
    found: tuple[int, ...] = ()  # instance ids that come (back) into view during this phase

    @property
    def still(self) -> bool:
        return not (self.move or self.rise or self.pan or self.tilt or self.roll)


@dataclass(frozen=True)
class CaptionRequest:
    clip_id: str
    scene: str  # "a sunlit stone courtyard"
    # The subjects a caption may name: those visible in at least one frame, in instance order. Subjects of the
    # clip that never appear are not here (only counted in `unseen_subjects`).
    subjects: tuple[SubjectMotion, ...]
    camera: str  # the camera's motion in prose: "moves backwards at a walking pace, then pans right away from her"
    video_path: Path | None = None
    extra: dict = field(default_factory=dict)
    camera_phases: tuple[CameraPhase, ...] = ()  # empty when the camera poses are unknown
    unseen_subjects: int = 0  # subjects of the clip never visible in any frame


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
