"""The commands end to end: `hmworld train` with 2 CPU processes (DDP, gloo), `hmworld cache`/`generate` errors,
and `hmworld import-hmworld` on synthetic files in the authors' described layout."""
from __future__ import annotations

import csv
import json

import numpy as np
import pytest
import torch

from hmworld.errors import SplitError
from hmworld.model.dataset import geometry_for
from hmworld.split.import_release import import_release, pad_sequence, parse_ue_matrix, raw_to_padded
from hmworld.split import Split
from hmworld.ue_axes import ue_c2w_to_opencv
from hmworld.video import read_video
from tests.testlib import run_cli
from tests.model.testlib import model_overrides, tiny_model_cfg, ue_columns_string, write_synthetic_release


def test_two_process_ddp_on_cpu_with_gloo(cached_split, tiny_assets, tmp_path):
    out = tmp_path / "ddp"
    proc = run_cli("train", f"split={cached_split}", f"out={out}", *model_overrides(tiny_assets["vae"], tiny_assets["text"]),
                   "trainer.accelerator=cpu", "trainer.devices=2", "trainer.strategy=ddp", "trainer.max_steps=2",
                   "checkpoint.every_n_steps=1", "progress=false",
                   timeout=3600)   # two processes of 2 steps: minutes on a loaded machine, never a tight limit
    text = proc.stdout + proc.stderr
    assert "distributed_backend=gloo" in text and "MEMBER: 2/2" in text and "MEMBER: 1/2" in text
    ckpt = torch.load(out / "checkpoints" / "last.ckpt", map_location="cpu", weights_only=False)
    assert ckpt["global_step"] == 2 and "hmworld" in ckpt
    rows = list(csv.DictReader(open(out / "metrics.csv")))
    assert [int(r["step"]) for r in rows] == [1, 2]  # written once (rank 0), losses averaged over both ranks
    assert "first 2 steps mean" in proc.stdout and (out / "config.yaml").is_file()


def test_commands_name_bad_input(tiny_split, tmp_path):
    (tmp_path / "not_a_split").mkdir()
    proc = run_cli("cache", f"split={tmp_path / 'not_a_split'}", check=False)
    assert proc.returncode == 2 and "split.json" in proc.stderr
    proc = run_cli("generate", f"checkpoint={tmp_path / 'nope.ckpt'}", f"split={tiny_split}", f"out={tmp_path / 'o'}",
                   check=False)
    assert proc.returncode == 2 and "nope.ckpt" in proc.stderr


def test_import_synthetic_release(tmp_path):
    src = tmp_path / "release"
    truth = write_synthetic_release(src, num_clips=2)
    out = tmp_path / "imported"
    report = import_release(src, out)
    assert report.written == 2 and report.events_dropped == 2  # the hiker's exit lies in the target half
    split = Split(out)
    assert split.complete and len(split) == 2 and split.fingerprint
    for rel, t in truth.items():
        clip = next(c for c in split if c.row["caption"] == t["caption"])
        assert clip.context_frames == 77 and clip.target_frames == 77
        assert clip.row["caption_source"] == "hm-world-release" and clip.row["scene"] == rel.split("/")[0]
        frames = read_video(clip.video_path)
        assert frames.shape == (154, 32, 32, 3)
        # the authors' padding: frame 0 := frame 1, halves 75 / 75 each padded by their first and last frame
        red = frames[:, 16, 16, 0].astype(int)
        want = pad_sequence(t["video"])[:, 16, 16, 0].astype(int)
        assert np.abs(red - want).max() <= 3  # H.264 rounding
        # camera: column strings -> Unreal matrix -> ue_axes -> OpenCV metres; frame 7 was missing (repeats 6)
        raw = t["poses"].copy()
        raw[7] = raw[6]
        np.testing.assert_allclose(clip.camera.c2w, ue_c2w_to_opencv(pad_sequence(raw)), atol=1e-5)
        ev = clip.events_file.to_json()
        assert ev["min_visible_pixels"] is None and all(s["visible_intervals"] is None for s in ev["subjects"])
        k = int(rel.split("clip")[-1][:3])
        assert ev["subjects"][0]["events"] == [{"exit_frame": raw_to_padded(40 + k), "entry_frame": raw_to_padded(110 + k)}]
        assert ev["subjects"][1]["events"] == []
        subs = clip.subjects_file.to_json()["subjects"]
        assert [s["name"] for s in subs] == ["dog_golden", "man_hiker"] and subs[0]["coco_class"] == 16
        assert all(f["box"] is None and f["visible_box"] is None for s in subs for f in s["frames"])
        assert subs[0]["frames"][10]["position"] == pytest.approx([0.1 * 9, -0.2, 0.0])  # padded frame 10 = raw 9, cm -> m, y mirrored
        assert not clip.path("instances_path").exists()  # no masks in the release
    # the imported split meets the model's frame constraints (77 -> 20 latents per half)
    g = geometry_for(split, tiny_model_cfg())
    assert (g.context_latents, g.target_latents) == (20, 20)
    # rerun: nothing re-imported
    assert import_release(src, out).already == 2


def test_import_names_bad_files(tmp_path):
    src = tmp_path / "release"
    write_synthetic_release(src, num_clips=1, frames=20)
    cam = next(src.rglob("clip000.json"))
    data = json.loads(cam.read_text())
    data["3"] = "[1 2 3] [4 5 6 7]"
    cam.write_text(json.dumps(data))
    with pytest.raises(SplitError) as e:
        import_release(src, tmp_path / "out")
    assert str(cam) in str(e.value) and "field '3'" in str(e.value)
    m = np.arange(16.0).reshape(4, 4)
    np.testing.assert_array_equal(parse_ue_matrix(ue_columns_string(m), "x"), m)
