"""Caption facts from geometry (hmworld.captioners.facts) and the captions and prompts built from them.

Synthetic ClipSpecs with known geometry: a subject walking towards a camera that backs away ahead of it and
then pans away and back, a camera following a subject from behind (with a second subject that is never in
view), a camera walking alongside a subject, and an animal crossing a still shot from left to right. Their
visibility comes from projecting each subject into the camera here (not from the facts module's own code),
and the clips carry catalog trajectory names on purpose: the captions must not repeat them.
"""
import re

import numpy as np
import pytest

from hmworld.captioners import build_captioner
from hmworld.captioners.facts import caption_request, pronoun_for
from hmworld.captioners.prompt import build_prompt
from hmworld.catalog import load_catalog
from hmworld.clipspec import ClipSpec, SubjectTrack, VideoSpec
from hmworld.events import exit_entry, visible_intervals
from hmworld.geometry import Intrinsics, c2w_from_forward, project, world_to_camera

FPS, CONTEXT, FRAMES = 15.0, 40, 80
W, H = 320, 192
K = Intrinsics.from_hfov(W, H, 65.0)
T = np.arange(FRAMES) / FPS
CAT = load_catalog([])


def _smoothstep(a: int, b: int) -> np.ndarray:
    """0 before frame a, 1 from frame b, smooth in between (the shape of a hand-operated pan)."""
    x = np.clip((np.arange(FRAMES) - a) / (b - a), 0, 1)
    return x * x * (3 - 2 * x)


def _camera(positions: np.ndarray, yaw: np.ndarray) -> np.ndarray:
    return c2w_from_forward(positions, np.stack([np.cos(yaw), np.sin(yaw), np.zeros_like(yaw)], -1))


def _visible(c2w: np.ndarray, positions: np.ndarray) -> np.ndarray:
    """[F] bool: the subject's chest (1.2 m up) projects inside the image, in front of the camera."""
    cam = world_to_camera(positions + [0, 0, 1.2], c2w)
    uv = project(cam, K)
    return (cam[:, 2] > 0.1) & (uv[:, 0] >= 0) & (uv[:, 0] < W) & (uv[:, 1] >= 0) & (uv[:, 1] < H)


def _clip(c2w, subjects, clip_id="train_s0_000001"):
    """(spec, events.subjects) for subjects [(catalog name, positions [F, 3])] walking where they look."""
    tracks = []
    for i, (name, pos) in enumerate(subjects, 1):
        step = np.gradient(pos, axis=0)
        heading = np.arctan2(step[:, 1], step[:, 0])
        tracks.append(SubjectTrack(i, name, "circle", 1.2, pos, heading, np.zeros(FRAMES)))
    spec = ClipSpec(clip_id, 0, 1, 0, "train", "courtyard", VideoSpec(W, H, FPS, CONTEXT, FRAMES - CONTEXT), K,
                    "pan_away_back", "left", c2w, tracks)
    events = []  # events.json's "subjects", by the definitions in hmworld.events
    for t in tracks:
        seen = _visible(c2w, t.positions)
        event = exit_entry(seen, CONTEXT)
        events.append({"instance_id": t.instance_id, "visible_intervals": visible_intervals(seen),
                       "events": [event] if event else []})
    return spec, events


def _leading_shot():
    """A woman walks towards the camera (-X, 1.2 m/s) while it backs away 3 m ahead of her at her pace,
    pans 80 degrees right near the end of the first half, holds, and pans back early in the second half."""
    woman = np.stack([8 - 1.2 * T, np.zeros(FRAMES), np.zeros(FRAMES)], 1)
    cam = woman + [-3.0, 0.0, 1.6]
    yaw = np.radians(-80) * (_smoothstep(24, 38) - _smoothstep(44, 58))
    return _clip(_camera(cam, yaw), [("woman_yellow_coat", woman)])


def _following_shot():
    """A man walks away (+Y, 1.3 m/s) with the camera 2.5 m behind him; a dog trots behind the camera."""
    man = np.stack([np.zeros(FRAMES), 1.3 * T, np.zeros(FRAMES)], 1)
    dog = man + [0.0, -6.0, 0.0]
    return _clip(_camera(man + [0.0, -2.5, 1.6], np.full(FRAMES, np.pi / 2)),
                 [("man_grey_suit", man), ("dog_golden", dog)])


def _alongside_shot():
    """A man walks +X; the camera walks beside him 3 m away, looking at him (+Y)."""
    man = np.stack([1.3 * T, np.zeros(FRAMES), np.zeros(FRAMES)], 1)
    return _clip(_camera(man + [0.0, -3.0, 1.6], np.full(FRAMES, np.pi / 2)), [("man_red_hoodie", man)])


def _crossing_shot():
    """A still camera looks +X; a corgi 6 m ahead trots from y=+3 to y=-3: from the left of the image to the right."""
    dog = np.stack([np.full(FRAMES, 6.0), np.linspace(3, -3, FRAMES), np.zeros(FRAMES)], 1)
    return _clip(_camera(np.tile([0.0, 0.0, 1.5], (FRAMES, 1)), np.zeros(FRAMES)), [("dog_corgi", dog)])


def _caption(request) -> str:
    return build_captioner({"name": "template"}).caption([request])[0]


def _assert_no_trajectory_names(text: str):
    low = text.lower()
    for name, entry in CAT.subject_trajectories.items():
        assert entry.description.lower() not in low, name
        assert not re.search(rf"\b{re.escape(name.replace('_', ' '))}\b", low), name
    for name, entry in CAT.camera_trajectories.items():
        for d in ("left", "right"):
            assert entry.description.format(dir=d).lower() not in low, name
        assert not re.search(rf"\b{re.escape(name.replace('_', ' '))}\b", low), name


def _assert_names_exactly_the_visible(text: str, spec, events_subjects):
    for track, ev in zip(spec.subjects, events_subjects):
        described = CAT.subjects[track.name].description in text
        assert described == bool(ev["visible_intervals"]), (track.name, ev["visible_intervals"], text)


def test_subject_walking_towards_a_camera_that_backs_away_then_pans_away_and_back():
    spec, ev = _leading_shot()
    [iv] = [s["visible_intervals"] for s in ev]
    assert len(iv) == 2 and iv[0][0] == 0 and iv[0][1] < CONTEXT <= iv[1][0]  # the geometry makes one event
    r = caption_request(spec, CAT, ev)
    [s] = r.subjects
    assert (s.pronoun, s.kind, s.visibility.halves, s.visibility.leaves_and_returns) == \
           ("she", "human", ("first", "second"), True)
    assert [(p.motion, p.camera) for p in s.phases] == [("towards", "leads")]
    assert s.phases[0].speed == pytest.approx(1.2, abs=0.05)
    # Camera: backwards at her pace, then the pan right during which she leaves, then the pan back that finds her.
    moves = [p for p in r.camera_phases if p.move]
    assert moves and all(p.move == "backward" for p in moves) and moves[0].start == 0
    pans = [p for p in r.camera_phases if p.pan]
    assert [(p.pan, p.back, p.lost, p.found) for p in pans] == [("right", False, (1,), ()), ("left", True, (), (1,))]
    assert pans[0].pan_deg == pytest.approx(80, abs=10) and 20 <= pans[0].start < CONTEXT <= pans[1].start
    assert not any(p.tilt or p.roll or p.rise for p in r.camera_phases)  # a level camera at a constant height
    text = _caption(r)
    assert "walks towards the camera as it moves backwards ahead of her" in text
    assert "moves backwards at a walking pace" in text
    assert "pans right away from her" in text and "pans back left, bringing her back into view" in text
    assert "She leaves the view near the end of the first half and comes back" in text
    _assert_no_trajectory_names(text)


def test_camera_following_from_behind_and_a_subject_never_in_view():
    spec, ev = _following_shot()
    assert ev[0]["visible_intervals"] == [[0, FRAMES]] and ev[1]["visible_intervals"] == []
    r = caption_request(spec, CAT, ev)
    assert [s.instance_id for s in r.subjects] == [1] and r.unseen_subjects == 1
    [s] = r.subjects
    assert [(p.motion, p.camera) for p in s.phases] == [("away", "follows")]
    assert s.visibility.halves == ("first", "second") and not s.visibility.leaves_and_returns
    assert [(p.move, p.pan) for p in r.camera_phases] == [("forward", "")]
    assert r.camera_phases[0].speed == pytest.approx(1.3, abs=0.05)
    text = _caption(r)
    assert "walks away from the camera, which follows him from behind" in text
    assert "moves forward at a walking pace." in text  # the camera's sentence, the last
    assert "leaves the view" not in text  # he never does
    _assert_names_exactly_the_visible(text, spec, ev)
    assert "golden retriever" not in text and " it " not in f" {text} ".replace("as it", "")
    _assert_no_trajectory_names(text)


def test_camera_walking_alongside():
    spec, ev = _alongside_shot()
    r = caption_request(spec, CAT, ev)
    [s] = r.subjects
    assert [(p.motion, p.camera, p.crosses) for p in s.phases] == [("right", "alongside", False)]
    assert [(p.move, p.pan) for p in r.camera_phases] == [("right", "")]
    text = _caption(r)
    assert "walks to the right with the camera moving alongside him" in text
    assert "moves to the right at a walking pace" in text
    _assert_no_trajectory_names(text)


def test_animal_crossing_a_still_shot_from_left_to_right():
    spec, ev = _crossing_shot()
    assert ev[0]["visible_intervals"] == [[0, FRAMES]]
    r = caption_request(spec, CAT, ev)
    [s] = r.subjects
    assert s.pronoun == "it"
    assert [(p.motion, p.crosses, p.camera) for p in s.phases] == [("right", True, "")]
    assert all(p.still for p in r.camera_phases)
    text = _caption(r)
    assert "a small orange corgi trots across the view from left to right" in text
    assert "holds still throughout" in text
    assert "walks" not in text and "leaves the view" not in text
    _assert_no_trajectory_names(text)


def test_captions_are_deterministic_and_vary_between_clips():
    spec, ev = _leading_shot()
    r = caption_request(spec, CAT, ev)
    assert _caption(r) == _caption(caption_request(spec, CAT, ev))
    openings = set()
    for i in range(12):
        spec, ev = _leading_shot()
        spec.clip_id = f"train_s0_{i:06d}"
        openings.add(_caption(caption_request(spec, CAT, ev)).split(",")[0])
    assert len(openings) > 1  # the variant is chosen per clip id


def test_vlm_prompt_hint_lists_only_the_visible_subjects():
    spec, ev = _following_shot()
    r = caption_request(spec, CAT, ev)
    hinted = build_prompt(r, 8, metadata_hints=True)
    assert "1 moving subject: a man in a grey suit" in hinted
    assert "golden retriever" not in hinted
    spec, ev = _leading_shot()
    hinted = build_prompt(caption_request(spec, CAT, ev), 8, metadata_hints=True)
    assert "1 moving subject: a woman in a yellow raincoat and black trousers (leaves the view near the end of " \
           "the first half and comes back" in hinted
    assert "towards the camera" not in hinted  # the motion is left to what the model sees


def test_pronouns_come_from_the_description_and_the_kind():
    assert pronoun_for("an elderly man in a beige coat", "human") == "he"
    assert pronoun_for("a girl in a yellow dress", "human") == "she"
    assert pronoun_for("a man in blue overalls", "human") == "he"
    assert pronoun_for("a woman in a navy uniform", "human") == "she"
    assert pronoun_for("a chef dressed in white", "human") == "they"  # the catalog does not say
    assert pronoun_for("a jogger in a teal running top and black tights", "human") == "they"
    assert pronoun_for("a golden retriever", "animal") == "it"
    # Words after "in"/"with" describe clothing, not the person.
    assert pronoun_for("a jogger with a man's watch", "human") == "they"


def test_rendered_captions_name_exactly_the_visible_subjects(rendered_split):
    """The render job's captions (embedded renderer, masks as the truth for visibility)."""
    import json

    from hmworld.split.writer import clip_records

    for clip_dir, record in clip_records(rendered_split):
        events = json.loads((clip_dir / "events.json").read_text())["subjects"]
        spec = ClipSpec.from_dict(json.loads((clip_dir / "clipspec.json").read_text()))
        _assert_names_exactly_the_visible(record.caption, spec, events)
        _assert_no_trajectory_names(record.caption)
        assert record.caption[0].isupper() and record.caption.endswith(".") and "camera" in record.caption


def test_a_hand_built_request_without_facts_still_captions():
    from hmworld.captioners import CaptionRequest, SubjectMotion

    r = CaptionRequest("train_s0_000009", "a sunlit stone courtyard",
                       (SubjectMotion("a man in a red hoodie", "walks", "towards a fountain"),), "pans left")
    text = _caption(r)
    assert "a man in a red hoodie walks towards a fountain." in text and text.endswith("pans left.")


def test_visibility_phrases_enter_leave_and_agree_with_they():
    from hmworld.captioners import SubjectMotion
    from hmworld.captioners.base import Visibility
    from hmworld.captioners.phrases import visibility_sentence

    def sentence(intervals, pronoun="she", events=()):
        vis = Visibility(FRAMES, CONTEXT, FPS, intervals, events)
        return visibility_sentence(SubjectMotion("x", "walks", pronoun=pronoun, visibility=vis))

    assert sentence(((0, FRAMES),)) == ""  # in view throughout: nothing to say
    assert sentence(((30, 70),)) == ("She comes into view near the end of the first half, then leaves the view "
                                     "near the end of the second half and does not come back.")
    assert sentence(((0, 36), (52, FRAMES)), "they") == (
        "They leave the view near the end of the first half and come back about a second later, "
        "in the middle of the second half.")
    assert sentence(((0, 10), (20, 30), (50, FRAMES)), "it") == "It leaves the view and comes back twice."
    # No masks (imported clip): the events alone.
    assert sentence(None, "he", ((36, 52),)).startswith("He leaves the view near the end of the first half")
