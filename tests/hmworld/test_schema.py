"""hmworld.split.schema: the per-clip files as records. Rendered files read and written again are the same bytes;
hostile files are named by clip, file and field; writer, importer shape and readers agree."""
from __future__ import annotations

import json

import numpy as np
import pytest

from hmworld.fsutil import dumps_json
from hmworld.split import Split
from hmworld.split.format import one_line
from hmworld.split.schema import (EVENTS_VERSION, CameraFile, EventsFile, ExitEntry, SchemaError, SubjectEntry,
                                  SubjectEvents, SubjectFrame, SubjectsFile, load)

FILES = {"camera_path": CameraFile, "subjects_path": SubjectsFile, "events_path": EventsFile}


def test_rendered_files_round_trip_byte_for_byte(tiny_split):
    split = Split(tiny_split)
    for clip in split:
        for key, cls in FILES.items():
            raw = clip.path(key).read_text(encoding="utf-8")
            assert dumps_json(cls.from_json(json.loads(raw)).to_json(), compact=True) == raw, (clip.clip_id, key)


def test_reader_gives_records_and_their_json(tiny_split):
    clip = Split(tiny_split)[0]
    ev, subs, cam = clip.events_file, clip.subjects_file, clip.camera_file
    assert ev.version == EVENTS_VERSION and ev.rules is not None and ev.frames == 42 == cam.frames
    assert ev.to_json() == json.loads(clip.path("events_path").read_text())
    assert subs.to_json() == json.loads(clip.path("subjects_path").read_text())
    np.testing.assert_array_equal(clip.camera.c2w, cam.poses)
    assert {s.instance_id for s in subs.subjects} == set(ev.by_id())
    assert all(len(s.frames) == 42 and s.coco_class is not None for s in subs.subjects)
    # the manifest's events column is what the events file says
    assert json.loads(clip.row["events"]) == json.loads(ev.manifest_events())


def _events(**over) -> dict:
    d = {"version": 2, "min_visible_pixels": 10, "rules": {"hidden_gap": [1, 9]}, "context_frames": 4,
         "target_frames": 3, "subjects": [{"instance_id": 1, "visible_intervals": [[0, 2], [5, 7]],
                                           "events": [{"exit_frame": 2, "entry_frame": 5}]}]}
    d.update(over)
    return d


@pytest.mark.parametrize("edit,message", [
    (lambda d: d["subjects"][0]["events"][0].update(entry_frame=7), "subjects[0].events[0].entry_frame must be an "
                                                                    "integer in [0, 6]"),
    (lambda d: d["subjects"][0]["events"][0].update(entry_frame=2), "entry_frame 2 is not after exit_frame 2"),
    (lambda d: d["subjects"][0].update(visible_intervals=[[0, 9]]), "subjects[0].visible_intervals[0]"),
    (lambda d: d["subjects"].append(dict(d["subjects"][0])), "subjects[1].instance_id: 1 appears twice"),
    (lambda d: d.update(version=EVENTS_VERSION + 1), f"version {EVENTS_VERSION + 1} is newer than this toolkit"),
    (lambda d: d.update(context_frames="4"), "field context_frames must be an integer"),
    (lambda d: d.update(subjects={}), "field subjects must be a list"),
])
def test_bad_events_name_the_file_and_field(edit, message):
    d = _events()
    edit(d)
    with pytest.raises(SchemaError) as e:
        EventsFile.from_json(d, "clip c1: x/events.json")
    assert str(e.value).startswith("clip c1: x/events.json: ") and message in str(e.value)


def test_bad_camera_and_subjects_name_the_field():
    cam = {"width": 8, "height": 6, "fps": 15, "intrinsics": {"fx": 4, "fy": 4, "cx": 3.5, "cy": 2.5},
           "c2w": [list(np.eye(4).ravel())] * 3}
    assert CameraFile.from_json(cam).frames == 3
    with pytest.raises(SchemaError, match=r"camera.json: field c2w\[1\] must be 16 finite numbers"):
        CameraFile.from_json({**cam, "c2w": [cam["c2w"][0], [0.0] * 15]})
    with pytest.raises(SchemaError, match="field intrinsics.fx must be a finite number"):
        CameraFile.from_json({**cam, "intrinsics": {"fx": float("nan"), "fy": 1, "cx": 1, "cy": 1}})
    with pytest.raises(SchemaError, match="field convention must be 'opencv_c2w_metres'"):
        CameraFile.from_json({**cam, "convention": "ue_cm"})
    frame = {"position": [0, 0, 0], "heading": 0.0, "box": None, "visible_box": [1, 2, 3], "visible_pixels": 4}
    with pytest.raises(SchemaError, match=r"subjects\[0\].frames\[0\].visible_box must be 4 finite numbers"):
        SubjectsFile.from_json({"version": 1, "subjects": [{"instance_id": 1, "name": "a", "frames": [frame]}]})
    with pytest.raises(SchemaError, match=r"subjects\[0\].frames has 1 entries, the clip has 2 frames"):
        SubjectsFile.from_json({"subjects": [{"instance_id": 1, "frames": [frame]}]}, frames=2)


def test_load_names_missing_and_broken_files(tmp_path):
    with pytest.raises(SchemaError, match="clip c9: .*events.json is missing"):
        load(EventsFile, tmp_path / "events.json", "c9")
    (tmp_path / "camera.json").write_text("{not json")
    with pytest.raises(SchemaError, match="camera.json: not valid JSON"):
        load(CameraFile, tmp_path / "camera.json")


def test_imported_shape_writes_only_what_it_knows():
    """An imported clip knows no description, trajectory, speed or height, and has no masks: those keys are not
    written, boxes and intervals are null, and version-2 events carry rules null."""
    subjects = SubjectsFile([SubjectEntry(1, "dog_golden", kind="animal", coco_class=16, coco_name="dog",
                                          frames=[SubjectFrame([1.0, 2.0, 0.0], None, None, None, None)])])
    assert list(subjects.to_json()["subjects"][0]) == ["instance_id", "name", "kind", "coco_class", "coco_name",
                                                       "frames"]
    assert not subjects.has_boxes
    events = EventsFile(77, 77, [SubjectEvents(1, None, [ExitEntry(40, 110)]), SubjectEvents(2, None, [])])
    assert list(events.to_json()) == ["version", "min_visible_pixels", "rules", "context_frames", "target_frames",
                                      "subjects"]
    assert events.to_json()["rules"] is None and events.events() == [(1, ExitEntry(40, 110))]
    assert json.loads(events.manifest_events()) == [{"instance_id": 1, "exit_frame": 40, "entry_frame": 110}]
    # a version-1 file (older splits) has no rules and reads and writes back as it was
    v1 = {"version": 1, "min_visible_pixels": None, "context_frames": 77, "target_frames": 77, "subjects": []}
    assert EventsFile.from_json(v1).to_json() == v1


def test_coerce_takes_records_or_dicts():
    rec = EventsFile.from_json(_events())
    assert EventsFile.coerce(rec) is rec and EventsFile.coerce(_events()) == rec
    assert SubjectsFile.coerce(None) is None
    with pytest.raises(SchemaError, match="events.json: field target_frames"):
        EventsFile.coerce({"context_frames": 4, "subjects": []})


def test_one_line_folds_every_white_space_run():
    assert one_line("  a\tdog\n\n runs  ") == "a dog runs" and one_line("\n") == ""
