"""The parts of the VLM captioners that need no model: frame sampling, the prompt, MiniCPM-V's chat() input,
backend choice, and the CaptionRequest rebuilt from a clip on disk."""
import json
import shutil

import pytest

from hmworld.captioners import CaptionRequest, SubjectMotion, build_captioner
from hmworld.captioners.minicpm import chat_messages, choose_backend
from hmworld.captioners.prompt import build_prompt, clean_model_reply, load_frames, sample_frame_indices
from hmworld.captioners.recaption import clip_request, split_records
from hmworld.catalog import Catalog
from hmworld.clipspec import ClipSpec
from hmworld.errors import HMWorldError
from hmworld.captioners.facts import caption_request
from hmworld.split.format import CLIP_JSON

# Built by hand the way requests were before caption facts existed (description, gait, path): still valid.
REQUEST = CaptionRequest("train_s0_000001", "a sunlit stone courtyard",
                         (SubjectMotion("a man in a red hoodie", "walks", "in a wide arc"),
                          SubjectMotion("a golden retriever", "trots", "in a circle")),
                         "pans left away from the subjects and back")


def test_frames_are_sampled_uniformly_over_the_whole_clip():
    assert sample_frame_indices(42, 8) == [2, 7, 13, 18, 23, 28, 34, 39]
    idx = sample_frame_indices(154, 16)
    gaps = {b - a for a, b in zip(idx, idx[1:])}
    assert max(gaps) - min(gaps) <= 1  # evenly spread
    assert idx[0] < 154 / 16 and idx[-1] >= 154 - 154 / 16  # both ends of the clip are represented
    assert sum(i < 77 for i in idx) == sum(i >= 77 for i in idx)  # context and target halves equally
    assert sample_frame_indices(5, 8) == [0, 1, 2, 3, 4]  # never more frames than the clip has
    assert sample_frame_indices(1, 3) == [0]
    with pytest.raises(HMWorldError, match="num_frames=0"):
        sample_frame_indices(10, 0)
    with pytest.raises(HMWorldError, match="0 frames"):
        sample_frame_indices(0, 4)


def test_prompt_asks_for_scene_subjects_and_camera_in_one_paragraph():
    text = build_prompt(REQUEST, 16, metadata_hints=False)
    for phrase in ("16 frames", "single paragraph", "scene", "each moving subject", "appearance", "action",
                   "camera's motion", "leaves the view"):
        assert phrase in text, phrase
    assert "red hoodie" not in text  # no metadata without hints
    hinted = build_prompt(REQUEST, 16, metadata_hints=True)
    assert hinted.startswith(text)
    assert "2 moving subjects: a man in a red hoodie; a golden retriever" in hinted
    assert "sunlit stone courtyard" in hinted
    assert "pans left" not in hinted  # the camera and the actions are left to what the model sees
    custom = build_prompt(REQUEST, 4, metadata_hints=False, template="{num_frames} frames of {scene}; camera {camera}")
    assert custom == "4 frames of a sunlit stone courtyard; camera pans left away from the subjects and back"
    with pytest.raises(HMWorldError, match="unknown field 'weather'"):
        build_prompt(REQUEST, 4, template="{weather}")


def test_captions_are_cleaned_to_one_line():
    assert clean_model_reply('  "A dog\n runs.\tThe camera pans."  ') == "A dog runs. The camera pans."
    assert clean_model_reply("\n\n") == ""


def test_minicpm_chat_input_is_one_conversation_per_clip_frames_then_prompt():
    frames = [["f1", "f2"], ["g1"]]
    msgs = chat_messages(frames, ["p", "q"])
    assert msgs == [[{"role": "user", "content": ["f1", "f2", "p"]}], [{"role": "user", "content": ["g1", "q"]}]]
    assert isinstance(msgs[0], list)  # the batched form of MiniCPM-V's chat()
    with pytest.raises(HMWorldError, match="2 frame lists for 1 prompts"):
        chat_messages(frames, ["p"])


def test_minicpm_backend_is_native_when_transformers_knows_the_model_else_remote_code():
    native = {"minicpmv4_6", "qwen2_vl"}
    assert choose_backend({"model_type": "minicpmv4_6"}, "auto", native) == "native"
    remote = {"model_type": "minicpmv", "auto_map": {"AutoModel": "modeling_minicpmv.MiniCPMV"}}
    assert choose_backend(remote, "auto", native) == "remote_code"
    assert choose_backend({**remote, "model_type": "minicpmv4_6"}, "remote_code", native) == "remote_code"
    with pytest.raises(HMWorldError, match="model_type 'minicpmv' is neither"):
        choose_backend({"model_type": "minicpmv"}, "auto", native)
    with pytest.raises(HMWorldError, match="backend=native but"):
        choose_backend(remote, "native", native)
    with pytest.raises(HMWorldError, match="backend='fast'"):
        choose_backend(remote, "fast", native)


def test_the_native_minicpm_model_types_are_image_text_to_text_in_this_transformers():
    from hmworld.captioners.minicpm import native_model_types

    types = native_model_types()
    assert "qwen2_vl" in types
    assert "minicpmv" not in types  # MiniCPM-V 2.6 / 4.5 stay remote code


def test_request_for_a_clip_on_disk_is_the_render_time_request(rendered_split, catalog):
    entries = split_records(rendered_split)
    assert len(entries) == 3
    for clip_dir, record in entries:
        spec = ClipSpec.from_dict(json.loads((clip_dir / "clipspec.json").read_text()))
        events = json.loads((clip_dir / "events.json").read_text())
        expected = caption_request(spec, catalog, events["subjects"], clip_dir / "video.mp4")
        got = clip_request(clip_dir, record, catalog)
        assert got == expected  # every field: phrases, facts, visibility, camera phases
        assert got.video_path.exists() and got.camera and got.subjects


def test_request_falls_back_to_the_clip_files_without_catalog_entries(rendered_split, catalog, tmp_path):
    clip_dir, record = split_records(rendered_split)[0]
    full = clip_request(clip_dir, record, catalog)
    subjects = {s["instance_id"]: s for s in json.loads((clip_dir / "subjects.json").read_text())["subjects"]}
    got = clip_request(clip_dir, record, Catalog())  # a catalog that knows none of the names
    assert [s.description for s in got.subjects] == [subjects[s.instance_id]["description"] for s in full.subjects]
    assert [s.kind for s in got.subjects] == [subjects[s.instance_id]["kind"] for s in full.subjects]
    assert all(s.gait == "moves" for s in got.subjects)
    assert record.scene.replace("_", " ") in got.scene
    assert got.camera == full.camera and got.camera_phases == full.camera_phases  # from the poses, not the catalog
    assert record.camera_trajectory.replace("_", " ") not in got.camera

    # Without clipspec.json the camera comes from camera.json and the positions from subjects.json (both
    # rounded on disk): the same facts.
    no_spec = tmp_path / "no_spec" / record.clip_id
    shutil.copytree(clip_dir, no_spec)
    (no_spec / "clipspec.json").unlink()
    got = clip_request(no_spec, record, catalog)
    assert got.camera == full.camera
    assert [(s.instance_id, s.motion, s.visibility) for s in got.subjects] == \
           [(s.instance_id, s.motion, s.visibility) for s in full.subjects]

    # An imported clip: no masks (visible_intervals null), so every subject is kept and only the events are known.
    events = json.loads((no_spec / "events.json").read_text())
    for s in events["subjects"]:
        s["visible_intervals"] = None
    (no_spec / "events.json").write_text(json.dumps(events))
    got = clip_request(no_spec, record, catalog)
    assert [s.instance_id for s in got.subjects] == [s["instance_id"] for s in events["subjects"]]
    assert all(s.visibility.intervals is None for s in got.subjects)

    # Only clip.json: the manifest row's names are enough.
    bare = tmp_path / record.clip_id
    bare.mkdir()
    (bare / CLIP_JSON).write_text((clip_dir / CLIP_JSON).read_text())
    got = clip_request(bare, record, None)
    assert len(got.subjects) == len(record.subjects)
    assert got.subjects[0].description == "a " + record.subjects[0].replace("_", " ")
    assert got.camera == "" and got.subjects[0].motion == ""
    text = build_captioner({"name": "template"}).caption([got])[0]
    assert got.subjects[0].description in text and "camera" not in text  # nothing invented


def test_frames_are_decoded_from_the_rendered_video(rendered_split):
    clip_dir, record = split_records(rendered_split)[0]
    frames = load_frames(clip_dir / "video.mp4", 8)
    assert len(frames) == 8 and frames[0].size == (64, 48) and frames[0].mode == "RGB"
    assert len({f.tobytes() for f in frames}) > 1  # different moments of the clip
    small = load_frames(clip_dir / "video.mp4", 3, max_side=32)
    assert [f.size for f in small] == [(32, 24)] * 3
    with pytest.raises(HMWorldError, match="does not exist"):
        load_frames(clip_dir / "missing.mp4", 3)
