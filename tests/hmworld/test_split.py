"""`hmworld render` end to end: the split on disk, determinism, atomicity and resume, bad inputs."""
import json
import signal
import subprocess
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from tests.testlib import HMWORLD, SMALL, run_cli
from hmworld.split import Split
from hmworld.split.format import MANIFEST_COLUMNS, fingerprint
from hmworld.split.writer import SplitWriter
from hmworld.video import probe_video

REF = ["num_clips=3", "seed=7", *SMALL, "progress=false"]


def _tree_hashes(root: Path) -> dict:
    import hashlib

    return {str(p.relative_to(root)): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(root.rglob("*")) if p.is_file() and p.name != ".lock"}


def test_reference_command_writes_three_clips_with_events(small_split):
    split = Split(small_split)
    assert len(split) == 3 and split.complete and len(split.fingerprint) == 64
    manifest = pd.read_parquet(small_split / "manifest.parquet")
    assert list(manifest.columns) == MANIFEST_COLUMNS
    for clip in split:
        events = clip.events_file.to_json()
        assert events["context_frames"] == 21 and events["target_frames"] == 21
        found = [e for s in events["subjects"] for e in s["events"]]
        assert found, clip.clip_id
        for e in found:
            assert e["exit_frame"] < 21 <= e["entry_frame"]
        info = probe_video(clip.video_path)
        assert (info.width, info.height, info.fps, info.codec) == (160, 96, 15.0, "h264")
        frames = clip.frames()
        assert frames.shape == (42, 96, 160, 3)
        assert clip.context().shape[0] == 21 and clip.target().shape[0] == 21
        assert clip.instances().shape == (42, 96, 160)
        assert clip.camera.c2w.shape == (42, 4, 4)
        for p in ("video_path", "camera_path", "subjects_path", "events_path", "instances_path"):
            assert not Path(clip.row[p]).is_absolute() and clip.path(p).is_file()


def test_events_are_recomputed_from_the_masks(small_split):
    for clip in Split(small_split):
        masks = clip.instances()
        ev = clip.events_file.to_json()
        for subj, meta in zip(ev["subjects"], clip.subjects_file.to_json()["subjects"]):
            counts = (masks == subj["instance_id"]).sum(axis=(1, 2))
            visible = counts >= ev["min_visible_pixels"]
            runs = [[s, e] for s, e in subj["visible_intervals"]]
            rebuilt = np.zeros(len(visible), bool)
            for s, e in runs:
                rebuilt[s:e] = True
            np.testing.assert_array_equal(rebuilt, visible)
            assert [f["visible_pixels"] for f in meta["frames"]] == counts.tolist()
            for f, n in zip(meta["frames"], counts):
                assert (f["visible_box"] is None) == (n == 0)


def test_subjects_and_camera_files_follow_the_schema(small_split):
    clip = Split(small_split)[0]
    cam = json.loads(clip.path("camera_path").read_text())
    assert cam["convention"] == "opencv_c2w_metres" and len(cam["c2w"]) == 42 and len(cam["c2w"][0]) == 16
    assert set(cam["intrinsics"]) == {"fx", "fy", "cx", "cy"}
    subj = clip.subjects_file.to_json()
    assert subj["version"] == 1
    for s in subj["subjects"]:
        assert s["kind"] in ("human", "animal") and isinstance(s["coco_class"], int)
        assert len(s["frames"]) == 42
        f = s["frames"][0]
        assert set(f) == {"position", "heading", "box", "visible_box", "visible_pixels"}


def test_captions_file_matches_the_original_release_format(small_split):
    lines = (small_split / "captions.txt").read_text().splitlines()
    split = Split(small_split)
    assert len(lines) == 3
    for line, clip in zip(lines, split):
        path, caption = line.split("\t")
        assert path == f"clips/{clip.clip_id}/video.mp4" and caption == clip.caption
        assert len(caption.split()) > 8 and caption[0].isupper()


def test_rerun_into_another_folder_gives_the_same_split(small_split, tmp_path):
    out = tmp_path / "again"
    run_cli("render", f"out={out}", *REF)
    assert _tree_hashes(out) == _tree_hashes(small_split)


def test_rerun_on_a_finished_split_renders_nothing(small_split):
    before = _tree_hashes(small_split)
    proc = run_cli("render", f"out={small_split}", *REF)
    assert "0 clips written, 3 already on disk" in proc.stdout
    assert _tree_hashes(small_split) == before


def test_killed_run_resumes_to_exactly_the_requested_clips(tmp_path, small_split):
    out = tmp_path / "killed"
    args = [*HMWORLD, "render", f"out={out}", *REF]
    proc = subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    clips = out / "clips"
    deadline = time.time() + 120
    try:  # kill while a clip is being written (a temporary folder exists) after one clip has landed
        while time.time() < deadline and proc.poll() is None:
            entries = [p.name for p in clips.iterdir()] if clips.exists() else []
            if any(not n.startswith(".tmp-") for n in entries) and any(n.startswith(".tmp-") for n in entries):
                break
            time.sleep(0.002)
    finally:
        proc.send_signal(signal.SIGKILL)
        proc.wait()
    landed = [p for p in clips.iterdir() if not p.name.startswith(".tmp-")]
    assert 1 <= len(landed) < 3, "the kill should land mid-run"
    for p in landed:  # every clip folder present is complete
        assert {"video.mp4", "camera.json", "subjects.json", "events.json", "instances.npz", "clip.json"} <= \
            {f.name for f in p.iterdir()}
    run_cli("render", f"out={out}", *REF)
    assert sorted(p.name for p in clips.iterdir()) == [f"train_s7_{i:06d}" for i in range(3)]
    assert _tree_hashes(out) == _tree_hashes(small_split)


def test_shards_write_disjoint_clips_into_one_split(tmp_path, small_split):
    out = tmp_path / "sharded"
    run_cli("render", f"out={out}", *REF, "shard=1", "num_shards=2")
    info = json.loads((out / "split.json").read_text())
    assert info["status"] == "in_progress" and info["num_clips_written"] == 1 and info["fingerprint"] is None
    run_cli("render", f"out={out}", *REF, "shard=0", "num_shards=2")
    assert _tree_hashes(out) == _tree_hashes(small_split)


def test_multirun_with_the_joblib_launcher(tmp_path, small_split):
    out = tmp_path / "multirun"
    run_cli("render", "--multirun", f"out={out}", *REF, "num_shards=2", "shard=0,1", "hydra/launcher=joblib",
            "hydra.launcher.n_jobs=2")
    split = Split(out)
    assert split.complete and split.fingerprint == Split(small_split).fingerprint


@pytest.mark.parametrize("override,message", [
    ("scenes=[atlantis]", "unknown scenes name"),
    ("video.width=161", "video.width=161 must be even"),
    ("video.target_frames=1", "video.target_frames=1 must be within"),
    ("shard=2", "shard=2 must be within"),
    ("num_clips=-1", "num_clips=-1 must be >= 0"),
])
def test_bad_inputs_fail_before_anything_is_written(tmp_path, override, message):
    out = tmp_path / "bad"
    proc = run_cli("render", f"out={out}", *REF, override, check=False)
    assert proc.returncode == 2
    assert message in proc.stderr and "Traceback" not in proc.stderr
    assert not out.exists()


def test_an_out_folder_holding_another_split_is_refused(small_split):
    proc = run_cli("render", f"out={small_split}", *REF[:-1], "seed=8", "progress=false", check=False)
    assert proc.returncode == 2
    assert "holds a different split" in proc.stderr and "seed: split has 7, this run asks for 8" in proc.stderr


def test_a_non_empty_folder_without_a_split_is_refused(tmp_path):
    (tmp_path / "notes.txt").write_text("mine")
    proc = run_cli("render", f"out={tmp_path}", *REF, check=False)
    assert proc.returncode == 2 and "is not empty and holds no split.json" in proc.stderr


def test_fingerprint_ignores_captions_but_not_videos(small_split):
    records = SplitWriter(small_split, {}, 3).records()
    base = fingerprint(records)
    records[0].caption = "something else"
    assert fingerprint(records) == base
    records[0].video_sha256 = "0" * 64
    assert fingerprint(records) != base


def test_help_lists_commands_and_settings():
    top = run_cli("--help")
    assert "render" in top.stdout and "key=value" in top.stdout
    sub = run_cli("render", "--help")
    assert "hmworld render" in sub.stdout and "num_clips" in sub.stdout and "partition" in sub.stdout


def test_depth_can_be_saved_alongside(tmp_path):
    from tests.testlib import render_config
    from hmworld.render_job import run_render

    out = tmp_path / "depth"
    report = run_render(render_config(f"out={out}", "num_clips=1", "seed=5", "video.width=64", "video.height=48",
                                      "video.context_frames=21", "video.target_frames=21", "output.save_depth=true"))
    assert report.written == 1
    clip = Split(out)[0]
    with np.load(clip.root / "clips" / clip.clip_id / "depth.npz") as z:
        depth = z["depth"]
    masks = clip.instances()
    assert depth.shape == masks.shape and depth.dtype == np.float16
    assert np.all(depth[masks > 0] > 0.1)  # subjects are in front of the camera, at metric depth


def test_a_clip_without_masks_says_so(small_split, tmp_path):
    import shutil

    from hmworld.errors import SplitError

    copy = tmp_path / "copy"
    shutil.copytree(small_split, copy)
    clip = Split(copy)[0]
    clip.path("instances_path").unlink()
    with pytest.raises(SplitError, match=f"clip {clip.clip_id}: no instance masks"):
        clip.instances()
