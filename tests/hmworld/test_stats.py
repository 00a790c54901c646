"""`hmworld stats`: the dataset card's figures on hand-built clips with known camera paths, the reference
comparison, the HTML page, imported splits (no masks), and every bad input named in the issue."""
from __future__ import annotations

import base64
import json
import re
import tomllib
from pathlib import Path

import numpy as np
import pytest
import yaml

from hmworld.fsutil import write_json
from hmworld.geometry import c2w_from_forward, forward_from_angles
from hmworld.split.format import ClipRecord
from hmworld.split.writer import write_manifest
from hmworld.stats import FIGURES, StatsError, build_card, load_profile
from hmworld.stats import figures as F
from hmworld.stats.profile import SHIPPED_DIR
from tests.testlib import run_cli

ROOT = Path(__file__).resolve().parents[2]
C = T = 21
W, H = 160, 96


# ------------------------------------------------------------------------------------------- builders
def camera_path(pitch_deg: float = 0.0, roll_deg: float = 0.0, frames: int = C + T, context: int = C) -> np.ndarray:
    """Moves 0.1 m/frame along +X through the context, then stops; pans 40 degrees left at 4 deg/frame
    (frames 6-15), holds, pans back (frames 26-35). Height 1.6 m."""
    t = np.arange(frames)
    x = 0.1 * np.minimum(t, context - 1)
    pos = np.stack([x, np.zeros(frames), np.full(frames, 1.6)], -1)
    yaw_deg = np.clip(t - 5, 0, 10) * 4.0 - np.clip(t - 25, 0, 10) * 4.0
    fwd = forward_from_angles(np.radians(yaw_deg), np.full(frames, np.radians(pitch_deg)))
    return c2w_from_forward(pos, fwd, np.radians(roll_deg))


def subject_track(start_x: float, frames: int = C + T, context: int = C, y: float = 0.0) -> list:
    """Walks along +X with the camera (0.1 m/frame through the context), `start_x` ahead of it."""
    t = np.arange(frames)
    return [[start_x + 0.1 * min(i, context - 1), y, 0.0] for i in t]


def make_clip(root: Path, clip_id: str, *, c2w: np.ndarray, subjects: list[dict], caption: str,
              scene: str = "city_street", camera_trajectory: str = "track_lead", with_subjects_file: bool = True,
              events_extra: dict | None = None) -> ClipRecord:
    """One clip folder. `subjects`: dicts with name, description, positions, boxes (per frame visible box or
    None; None = unknown), intervals (None = unknown), events [(exit, entry)]."""
    d = root / "clips" / clip_id
    d.mkdir(parents=True)
    frames = len(c2w)
    write_json(d / "camera.json", {"convention": "opencv_c2w_metres", "width": W, "height": H, "fps": 15.0,
                                   "intrinsics": {"fx": 100.0, "fy": 100.0, "cx": 79.5, "cy": 47.5},
                                   "c2w": [m.reshape(16).tolist() for m in c2w]})
    ev_subjects, subj, manifest_events = [], [], []
    for k, s in enumerate(subjects, 1):
        ev_subjects.append({"instance_id": k, "visible_intervals": s.get("intervals"),
                            "events": [{"exit_frame": a, "entry_frame": b} for a, b in s.get("events", [])]})
        manifest_events += [{"instance_id": k, "exit_frame": a, "entry_frame": b} for a, b in s.get("events", [])]
        boxes = s.get("boxes")
        subj.append({"instance_id": k, "name": s["name"], "kind": "human", "coco_class": 0, "coco_name": "person",
                     "description": s.get("description"), "trajectory": "straight", "speed": 1.5, "height": 1.7,
                     "frames": [{"position": s["positions"][f] if s.get("positions") else None, "heading": 0.0,
                                 "box": None,
                                 "visible_box": None if boxes is None else boxes[f],
                                 "visible_pixels": None if boxes is None else (0 if boxes[f] is None else 500)}
                                for f in range(frames)]})
    events = {"version": 1, "min_visible_pixels": 15, "context_frames": C, "target_frames": frames - C,
              "subjects": ev_subjects, **(events_extra or {})}
    write_json(d / "events.json", events)
    if with_subjects_file:
        write_json(d / "subjects.json", {"version": 1, "subjects": subj})
    rec = ClipRecord(clip_id=clip_id, scene=scene, partition="train", subjects=[s["name"] for s in subjects],
                     trajectories=["straight"] * len(subjects), camera_trajectory=camera_trajectory, seed=0,
                     slot=int(clip_id[-1]), attempt=0, width=W, height=H, fps=15.0, context_frames=C,
                     target_frames=frames - C, events=json.dumps(manifest_events), caption=caption,
                     caption_source="template", video_sha256="0" * 64)
    write_json(d / "clip.json", rec.to_json())
    return rec


def make_split(root: Path, records: list[ClipRecord], status: str = "complete", num_clips: int | None = None) -> Path:
    write_json(root / "split.json", {"format_version": 1, "status": status,
                                     "num_clips": num_clips or len(records), "num_clips_written": len(records),
                                     "fingerprint": "f" * 64 if status == "complete" else None, "failed_clips": [],
                                     "config": {}, "stats": {}})
    if status == "complete":
        write_manifest(root, records)
    return root


def box(h_frac: float) -> list:
    return [60.0, 10.0, 80.0, 10.0 + h_frac * H]


def visible_boxes(frames: int, intervals: list, h_frac: float) -> list:
    out = [None] * frames
    for a, b in intervals:
        for f in range(a, b):
            out[f] = box(h_frac)
    return out


def synthetic_split(root: Path, **kw) -> Path:
    """Three clips with known figures:
    0: level camera tracking a subject 2 m ahead (box 0.5 of the image), event 14 -> 30;
    1: camera pitched 10 degrees, subject 2.5 m ahead, event 18 -> 35, a second subject never visible whose
       description ("a red kite") the caption names;
    2: camera rolled 5 degrees, subject 3 m ahead standing still (camera leaves it behind), no event."""
    root.mkdir(parents=True, exist_ok=True)
    n = C + T
    recs = [
        make_clip(root, "train_s0_000000", c2w=camera_path(), caption="A man walks towards the camera.",
                  subjects=[{"name": "man_a", "description": "a man in a red hoodie", "positions": subject_track(2.0),
                             "intervals": [[0, 14], [30, n]], "boxes": visible_boxes(n, [[0, 14], [30, n]], 0.5),
                             "events": [(14, 30)]}], **kw),
        make_clip(root, "train_s0_000001", c2w=camera_path(pitch_deg=10.0), scene="city_park",
                  caption="A woman strolls. A red kite circles above.",
                  subjects=[{"name": "woman_b", "description": "a woman in a yellow coat",
                             "positions": subject_track(2.5), "intervals": [[0, 18], [35, n]],
                             "boxes": visible_boxes(n, [[0, 18], [35, n]], 0.75), "events": [(18, 35)]},
                            {"name": "kite", "description": "A Red  Kite", "positions": subject_track(9.0, y=4.0),
                             "intervals": [], "boxes": [None] * n}], **kw),
        make_clip(root, "train_s0_000002", c2w=camera_path(roll_deg=5.0), camera_trajectory="pan_away_back",
                  caption="A dog sits.",
                  subjects=[{"name": "dog_c", "description": "a dog", "positions": [[3.0, 0.0, 0.0]] * n,
                             "intervals": [[0, n]], "boxes": visible_boxes(n, [[0, n]], 0.25)}], **kw),
    ]
    return make_split(root, recs)


def summary(report, name):
    return report.doc["figures"][name]


# --------------------------------------------------------------------------------------------- figures
def test_camera_figures_of_a_known_path():
    f = F.camera_figures(camera_path(), C)
    assert f["camera_speed_context"] == pytest.approx(0.1)
    assert f["camera_speed_target"] == pytest.approx(0.0, abs=1e-12)
    assert f["camera_path_context_m"] == pytest.approx(2.0)
    assert f["total_rotation_deg"] == pytest.approx(80.0)  # 40 away + 40 back
    assert f["pan_peak_deg"] == pytest.approx(40.0)
    assert f["yaw_rate_max_deg_per_frame"] == pytest.approx(4.0)
    assert f["yaw_rate_median_deg_per_frame"] == pytest.approx(0.0, abs=1e-9)  # 21 still steps of 41
    assert f["max_abs_pitch_deg"] == pytest.approx(0.0, abs=1e-9)
    assert f["max_abs_roll_deg"] == pytest.approx(0.0, abs=1e-9)
    assert f["camera_height_m"] == pytest.approx(1.6)
    pitched = F.camera_figures(camera_path(pitch_deg=-10.0, roll_deg=5.0), C)
    assert pitched["max_abs_pitch_deg"] == pytest.approx(10.0)
    assert pitched["max_abs_roll_deg"] == pytest.approx(5.0)
    assert pitched["total_rotation_deg"] == pytest.approx(80.0)  # yaw about world Z: same geodesic angles
    assert pitched["pan_peak_deg"] == pytest.approx(40.0)


def test_rotation_steps_exact_for_small_and_large_angles():
    yaw = np.radians([0.0, 0.01, 0.02, 120.0])
    c2w = c2w_from_forward(np.zeros((4, 3)), forward_from_angles(yaw, np.zeros(4)))
    np.testing.assert_allclose(np.degrees(F.rotation_steps(c2w)), [0.01, 0.01, 119.98], rtol=1e-7)
    # unwrapped yaw: a pan through the +-180 degree seam is not a 360 degree jump
    yaw = np.radians(170.0 + 5.0 * np.arange(5))
    f = F.camera_figures(c2w_from_forward(np.zeros((5, 3)), forward_from_angles(yaw, np.zeros(5))), 3)
    assert f["pan_peak_deg"] == pytest.approx(20.0) and f["yaw_rate_max_deg_per_frame"] == pytest.approx(5.0)


def test_tracking_needs_travel_and_steady_distance():
    c2w = camera_path()
    assert F.tracks_subject(c2w, np.asarray(subject_track(2.0), float), C) is True
    # a subject standing still: the camera (1.0 m travelled by frame 10) closes from 3 m to 2 m (-33 %): still in
    assert F.tracks_subject(c2w, np.tile([3.0, 0.0, 0.0], (C + T, 1)), C) is True
    # ... from 2.5 m to 1.5 m (-40 %): out
    assert F.tracks_subject(c2w, np.tile([2.5, 0.0, 0.0], (C + T, 1)), C) is False
    still = camera_path()
    still[:, :3, 3] = [0.0, 0.0, 1.6]  # a camera that does not move never tracks
    assert F.tracks_subject(still, np.asarray(subject_track(2.0), float), C) is False
    assert F.tracks_subject(c2w, None, C) is None


def test_card_of_a_synthetic_split(tmp_path):
    split = synthetic_split(tmp_path / "split")
    r = build_card(split, out=tmp_path / "card", reference="hmworld_examples")
    clips = {c["clip_id"]: c for c in r.doc["clips"]}
    assert [c["camera_speed_context"] for c in clips.values()] == pytest.approx([0.1, 0.1, 0.1])
    assert clips["train_s0_000001"]["max_abs_pitch_deg"] == pytest.approx(10.0)
    assert clips["train_s0_000002"]["max_abs_roll_deg"] == pytest.approx(5.0)
    assert [c["main_subject_distance_frame0_m"] for c in clips.values()] == pytest.approx([2.0, 2.5, 3.0])
    assert [c["main_subject_box_height_frame0"] for c in clips.values()] == pytest.approx([0.5, 0.75, 0.25])
    assert [c["camera_tracks_subject"] for c in clips.values()] == [True, True, True]  # 3 m -> 2 m is -33 %
    assert summary(r, "total_rotation_deg")["median"] == pytest.approx(80.0)
    assert summary(r, "max_abs_pitch_deg")["value"] == pytest.approx(10.0)  # default statistic: max
    assert summary(r, "pan_peak_deg")["median"] == pytest.approx(40.0)
    ev = r.doc["events"]
    assert [(e["exit_frame"], e["entry_frame"], e["hidden_gap_frames"]) for e in ev] == [(14, 30, 16), (18, 35, 17)]
    assert [e["reentry_within_10_target_frames"] for e in ev] == [True, False]  # 30 < 31, 35 >= 31
    assert [e["reentry_box_height"] for e in ev] == pytest.approx([0.5, 0.75])
    # re-entry distance: camera stopped at x=2.0 from frame 20; subject stopped at x=2+2.0 -> 2 m; 2.5+2.0 -> 2.5
    assert [e["reentry_subject_distance_m"] for e in ev] == pytest.approx([2.0, 2.5])
    assert summary(r, "hidden_gap_frames")["median"] == pytest.approx(16.5)
    assert summary(r, "subjects_never_visible")["count"] == 1
    assert summary(r, "captions_naming_invisible")["count"] == 1  # "A Red  Kite" in "... A red kite circles"
    assert summary(r, "clips_with_event")["fraction"] == pytest.approx(2 / 3)
    vis = {(s["clip_id"], s["instance_id"]): s["visible_fraction"] for s in r.doc["subjects"]}
    assert vis[("train_s0_000000", 1)] == pytest.approx((14 + 12) / 42) and vis[("train_s0_000001", 2)] == 0.0
    assert r.doc["counts"]["scene"] == {"city_street": 2, "city_park": 1}
    assert r.doc["counts"]["camera_trajectory"] == {"track_lead": 2, "pan_away_back": 1}
    assert summary(r, "subjects_per_clip")["max"] == 2
    # the comparison: frame ranges scaled by 21/77, OK and OUTSIDE where the numbers say
    checks = {c.figure: c for c in r.checks}
    assert checks["exit_frame"].lo == pytest.approx(58 * 21 / 77) and checks["exit_frame"].status == "OK"  # 16
    assert checks["entry_frame"].hi == pytest.approx(92 * 21 / 77) and checks["entry_frame"].status == "OUTSIDE"
    assert checks["camera_speed_context"].status == "OK" and checks["camera_tracks_subject"].status == "OK"
    assert checks["max_abs_pitch_deg"].status == "OUTSIDE" and checks["subjects_never_visible"].status == "OUTSIDE"
    assert checks["total_rotation_deg"].status == "OK" and checks["pan_peak_deg"].status == "OK"
    saved = json.loads((tmp_path / "card" / "stats.json").read_text())
    assert saved["reference"]["outside"] == [c.figure for c in r.outside] and saved == json.loads(json.dumps(r.doc))


def test_card_is_deterministic_and_self_contained(tmp_path):
    split = synthetic_split(tmp_path / "split")
    a = build_card(split, out=tmp_path / "a", reference="hmworld_examples")
    b = build_card(split, out=tmp_path / "b", reference="hmworld_examples")
    for name in ("stats.json", "stats.html"):
        assert (a.out / name).read_bytes() == (b.out / name).read_bytes()
    page = (a.out / "stats.html").read_text()
    assert not re.search(r"""(src|href)\s*=\s*["']?\s*(https?:)?//""", page, re.I)
    assert "<link" not in page and "<script" not in page
    images = re.findall(r'<img[^>]*src="data:image/png;base64,([A-Za-z0-9+/=]+)"', page)
    assert len(images) == 4 and all(base64.b64decode(i)[:8] == b"\x89PNG\r\n\x1a\n" for i in images)
    assert len(page) < 1_000_000


def test_hostile_strings_are_escaped(tmp_path):
    root = tmp_path / "split"
    root.mkdir()
    n = C + T
    rec = make_clip(root, "train_s0_000000", c2w=camera_path(), scene='<img src="http://x/y.png">$\\frac{$',
                    camera_trajectory="pan</td><script>alert(1)</script>",
                    caption="<script>alert('caption')</script> & more",
                    subjects=[{"name": "<b>bold</b>$x$", "description": "d", "positions": subject_track(2.0),
                               "intervals": [[0, 10], [25, n]], "boxes": visible_boxes(n, [[0, 10], [25, n]], 0.5),
                               "events": [(10, 25)]}])
    make_split(root, [rec])
    page = (build_card(root, out=tmp_path / "card").out / "stats.html").read_text()
    assert "<script" not in page and 'src="http' not in page and "<b>bold" not in page
    assert "&lt;script&gt;alert(&#x27;caption&#x27;)&lt;/script&gt; &amp; more" in page


def test_unknown_keys_in_events_are_ignored(tmp_path):
    """The compositor may add keys (events.json version 2): the figures do not change."""
    plain = build_card(synthetic_split(tmp_path / "a"), out=tmp_path / "ca")
    extra = {"version": 2, "pan": {"start": 5}, "min_visible_box": [3, 4]}
    v2 = build_card(synthetic_split(tmp_path / "b", events_extra=extra), out=tmp_path / "cb")
    assert plain.doc["figures"] == v2.doc["figures"] and plain.doc["events"] == v2.doc["events"]


def test_in_progress_split_is_described_with_a_warning(tmp_path):
    root = tmp_path / "split"
    root.mkdir()
    n = C + T
    rec = make_clip(root, "train_s0_000000", c2w=camera_path(), caption="c",
                    subjects=[{"name": "a", "description": "a", "positions": subject_track(2.0),
                               "intervals": [[0, 10], [25, n]], "boxes": visible_boxes(n, [[0, 10], [25, n]], 0.5),
                               "events": [(10, 25)]}])
    make_split(root, [rec], status="in_progress", num_clips=5)  # no manifest yet: clip folders are the truth
    (root / "clips" / ".tmp-train_s0_000001-abcd1234").mkdir()  # a half-written clip is not read
    r = build_card(root, out=tmp_path / "card")
    assert len(r.doc["clips"]) == 1 and r.doc["split"]["status"] == "in_progress"
    assert r.warnings and "1 of 5 clips" in r.warnings[0] and r.doc["warnings"] == r.warnings
    assert "1 of 5 clips" in (r.out / "stats.html").read_text()
    # nothing written yet: an empty card, every figure n/a
    empty = tmp_path / "empty"
    empty.mkdir()
    make_split(empty, [], status="in_progress", num_clips=5)
    e = build_card(empty, out=tmp_path / "card0", reference="hmworld_examples")
    assert e.doc["clips"] == [] and {c.status for c in e.checks} == {"n/a"}


# -------------------------------------------------------------------------------------------- imported
def write_release(src: Path) -> None:
    """A two-clip release in the authors' raw layout (see hmworld.split.import_release), 32x32, 149 frames."""
    from hmworld.ue_axes import ue_rotator_to_matrix
    from hmworld.video import write_video

    lines = []
    for k in range(2):
        d = src / f"street{k}" / f"clip{k}"
        d.mkdir(parents=True)
        write_video(d / f"clip{k}.mp4", np.full((149, 32, 32, 3), 100, np.uint8), 15)
        t = np.arange(149)
        rot = ue_rotator_to_matrix(0.0 * t, 30.0 * np.sin(np.pi * t / 148), 0.0 * t)
        cam = {}
        for i in t:
            m = np.eye(4)
            m[:3, :3], m[:3, 3] = rot[i], [8.0 * i, 0.0, 210.0]  # 8 cm per frame, 2.1 m high
            cam[str(i)] = " ".join("[" + " ".join(f"{v:.6f}" for v in m[:, j]) + "]" for j in range(4))
        (d / f"clip{k}.json").write_text(json.dumps(cam))
        (d / f"clip{k}_check.json").write_text(json.dumps([{"character": "man", "exit_frame": 60, "entry_frame": 85}]))
        (d / f"clip{k}_character.json").write_text(json.dumps([{"name": "man"}]))
        lines.append(f"street{k}/clip{k}/clip{k}.mp4\ta man walks along the street")
    (src / "captions.txt").write_text("\n".join(lines) + "\n")


def test_imported_split_gives_na_not_a_crash(tmp_path):
    from hmworld.split.import_release import import_release, raw_to_padded

    write_release(tmp_path / "release")
    split = tmp_path / "imported"
    import_release(tmp_path / "release", split)
    proc = run_cli("stats", f"split={split}", "reference=hmworld_examples", f"out={tmp_path / 'card'}",
                   "progress=false")
    doc = json.loads((tmp_path / "card" / "stats.json").read_text())
    f = doc["figures"]
    for name in ("main_subject_box_height_frame0", "reentry_box_height", "visible_fraction", "subjects_never_visible",
                 "captions_naming_invisible", "main_subject_distance_frame0_m", "camera_tracks_subject"):
        assert f[name]["n"] == 0 and f[name]["value"] is None, name
    assert f["camera_speed_context"]["median"] == pytest.approx(0.08, abs=1e-6)
    assert f["camera_height_m"]["median"] == pytest.approx(2.1)
    # the importer's padding moves the raw frames: exit 60 -> 61, entry 85 -> 88
    assert (raw_to_padded(60), raw_to_padded(85)) == (61, 88)
    assert f["exit_frame"]["n"] == 2 and f["exit_frame"]["median"] == 61 and f["hidden_gap_frames"]["median"] == 27
    status = {c["figure"]: c["status"] for c in doc["reference"]["checks"]}
    assert status["main_subject_box_height_frame0"] == "n/a" and status["subjects_never_visible"] == "n/a"
    assert status["camera_speed_context"] == "OK"
    assert "n/a" in proc.stdout and "Traceback" not in proc.stderr
    assert "n/a" in (tmp_path / "card" / "stats.html").read_text()


def test_clips_without_subjects_file(tmp_path):
    """Camera and events only: every subject figure is n/a; the counts still use the manifest's names."""
    root = tmp_path / "split"
    root.mkdir()
    rec = make_clip(root, "train_s0_000000", c2w=camera_path(), caption="c", with_subjects_file=False,
                    subjects=[{"name": "a", "intervals": None, "events": [(14, 30)]}])
    make_split(root, [rec])
    r = build_card(root, out=tmp_path / "card", reference="hmworld_examples")
    assert summary(r, "main_subject_box_height_frame0")["n"] == 0
    assert summary(r, "reentry_subject_distance_m")["n"] == 0 and summary(r, "exit_frame")["median"] == 14
    assert r.doc["counts"]["subject"] == {"a": 1}
    assert {c.figure: c.status for c in r.checks}["captions_naming_invisible"] == "n/a"


# ------------------------------------------------------------------------------------- profile and CLI
def test_shipped_profile_matches_the_issue_and_is_package_data():
    p = load_profile("hmworld_examples")
    got = {e.figure: (e.stat, e.lo, e.hi) for e in p.figures}
    assert got == {
        "camera_speed_context": ("median", 0.06, 0.12), "camera_tracks_subject": ("fraction", 0.9, 1.0),
        "total_rotation_deg": ("median", 60, 82), "max_abs_pitch_deg": ("max", 0, 1),
        "yaw_rate_max_deg_per_frame": ("median", 1.5, 2.8), "pan_peak_deg": ("median", 30, 51),
        "main_subject_distance_frame0_m": ("median", 1, 3), "main_subject_box_height_frame0": ("median", 0.6, 1.0),
        "exit_frame": ("median", 58, 68), "entry_frame": ("median", 77, 92), "hidden_gap_frames": ("median", 10, 25),
        "reentry_within_10_target_frames": ("fraction", 0.5, 1.0), "subjects_never_visible": ("count", 0, 0),
        "captions_naming_invisible": ("count", 0, 0)}
    assert p.context_frames == 77 and p.path.parent == SHIPPED_DIR
    assert load_profile(str(p.path)).figures == p.figures  # by path as well as by name
    cfg = tomllib.loads((ROOT / "pyproject.toml").read_text())
    assert "profiles/*.yaml" in cfg["tool"]["setuptools"]["package-data"]["hmworld"]
    assert SHIPPED_DIR == ROOT / "hmworld" / "profiles"
    assert any(d.startswith("matplotlib") for d in cfg["project"]["dependencies"])


def write_profile(path: Path, figures: dict, **top) -> Path:
    path.write_text(yaml.safe_dump({"name": "mine", "source": "test", "context_frames": 21, "target_frames": 21,
                                    "figures": figures, **top}))
    return path


def test_cli_flags_outside_figures_and_strict_exits_1(small_split, tmp_path):
    prof = write_profile(tmp_path / "p.yaml", {
        "camera_height_m": {"stat": "max", "range": [100.0, 200.0], "unit": "m"},   # no camera flies that high
        "subjects_per_clip": {"stat": "min", "range": [1, 3]},
        "exit_frame": {"stat": "median", "range": [0, 21]},
    })
    args = [f"split={small_split}", f"reference={prof}", "progress=false"]
    ok = run_cli("stats", *args, f"out={tmp_path / 'c1'}")
    assert "OUTSIDE" in ok.stdout and "1 outside" in ok.stdout and "camera_height_m" in ok.stdout
    strict = run_cli("stats", *args, f"out={tmp_path / 'c2'}", "strict=true", check=False)
    assert strict.returncode == 1 and "Traceback" not in strict.stderr
    doc = json.loads((tmp_path / "c1" / "stats.json").read_text())
    assert doc["reference"]["outside"] == ["camera_height_m"]
    assert [c["status"] for c in doc["reference"]["checks"]] == ["OUTSIDE", "OK", "OK"]
    # the card agrees with the split's own files
    from hmworld.split import Split

    s = Split(small_split)
    want = sorted((c.clip_id, e["exit_frame"], e["entry_frame"]) for c in s for e in json.loads(c.row["events"]))
    assert sorted((e["clip_id"], e["exit_frame"], e["entry_frame"]) for e in doc["events"]) == want
    assert doc["split"]["fingerprint"] == s.fingerprint and len(doc["clips"]) == len(s)
    page = (tmp_path / "c1" / "stats.html").read_text()
    assert page.count("data:image/png;base64,") == 4 and not re.search(r"(src|href)=\"https?:", page)
    # default out: ./stats-<split name> in the working folder, never inside the split
    from hmworld.stats.card import default_out

    assert default_out(small_split) == Path(f"stats-{small_split.name}")


def test_help_lists_the_settings():
    proc = run_cli("stats", "--help")
    assert "reference" in proc.stdout and "strict" in proc.stdout and "hmworld_examples" in proc.stdout


GOOD = {"exit_frame": {"stat": "median", "range": [1, 2]}}
TOP = {"name": "mine", "context_frames": 21, "target_frames": 21}


@pytest.mark.parametrize("data,message", [
    (TOP, "field figures is missing"),
    ({"context_frames": 21, "target_frames": 21, "figures": GOOD}, "field name is missing"),
    ({**TOP, "figures": GOOD, "context_frames": 0}, "field context_frames must be a positive integer"),
    ({**TOP, "figures": GOOD, "colour": "red"}, "unknown field 'colour'"),
    ({**TOP, "figures": {"exit_frame": {"stat": "median", "range": [1]}}}, "figures.exit_frame.range must be [lo, hi]"),
    ({**TOP, "figures": {"exit_frame": {"stat": "median", "range": [3, 1]}}}, "figures.exit_frame.range must be [lo, hi]"),
    ({**TOP, "figures": {"exit_frame": {"stat": "median", "range": ["a", 2]}}}, "figures.exit_frame.range"),
    ({**TOP, "figures": {"exit_frame": {"stat": "average", "range": [1, 2]}}}, "figures.exit_frame.stat"),
    ({**TOP, "figures": {"exit_frame": {"stat": "fraction", "range": [1, 2]}}}, "figures.exit_frame.stat"),
    ({**TOP, "figures": {"exit_frame": {"range": [1, 2]}}}, "figures.exit_frame.stat is missing"),
    ({**TOP, "figures": {"exit_fram": {"stat": "median", "range": [1, 2]}}}, "figures.exit_fram: unknown figure"),
    ({**TOP, "figures": {"exit_frame": [1, 2]}}, "figures.exit_frame must be a mapping"),
    ([1, 2], "expected a mapping"),
])
def test_malformed_profile_names_file_and_field(tmp_path, data, message):
    path = tmp_path / "bad.yaml"
    path.write_text(yaml.safe_dump(data))
    with pytest.raises(StatsError) as e:
        load_profile(str(path))
    assert str(path) in str(e.value) and message in str(e.value)


def test_profile_that_is_not_yaml(tmp_path):
    path = tmp_path / "bad.yaml"
    path.write_text("name: [unclosed\n  figures: {")
    with pytest.raises(StatsError, match="not valid YAML"):
        load_profile(str(path))


def _one_line_error(proc, *needles):
    assert proc.returncode == 2, proc.stdout + proc.stderr
    lines = [ln for ln in proc.stderr.splitlines() if ln.strip()]
    assert len(lines) == 1 and "Traceback" not in proc.stderr, proc.stderr
    for n in needles:
        assert str(n) in lines[0], (n, lines[0])


def test_cli_bad_input_exits_2_with_one_line(tmp_path):
    split = synthetic_split(tmp_path / "split")
    (tmp_path / "not_a_split").mkdir()
    _one_line_error(run_cli("stats", f"split={tmp_path / 'not_a_split'}", check=False), "not_a_split", "split.json")
    _one_line_error(run_cli("stats", check=False), "split=")
    _one_line_error(run_cli("stats", "split=5", check=False), "split=5")
    _one_line_error(run_cli("stats", f"split={split}", "strict=true", check=False), "strict=true needs reference=")
    _one_line_error(run_cli("stats", f"split={split}", "strict=maybe", check=False), "strict=maybe")
    _one_line_error(run_cli("stats", f"split={split}", f"reference={tmp_path / 'nope.yaml'}", check=False),
                    "nope.yaml", "no such file")
    bad = tmp_path / "bad.yaml"
    bad.write_text("name: x\ncontext_frames: 77\ntarget_frames: 77\nfigures:\n  exit_frame: {stat: median, range: [5]}\n")
    _one_line_error(run_cli("stats", f"split={split}", f"reference={bad}", check=False),
                    "bad.yaml", "figures.exit_frame.range", "[lo, hi]")
    (tmp_path / "afile").write_text("x")
    _one_line_error(run_cli("stats", f"split={split}", f"out={tmp_path / 'afile'}", check=False), "afile", "not a folder")
    _one_line_error(run_cli("stats", f"split={split}", f"out={split / 'card'}", check=False), "inside the split")
    cam = split / "clips" / "train_s0_000001" / "camera.json"
    cam.write_text(cam.read_text()[:100])
    _one_line_error(run_cli("stats", f"split={split}", f"out={tmp_path / 'c'}", check=False),
                    "train_s0_000001", str(cam), "not valid JSON")
    assert not (split / "card").exists() and not (tmp_path / "c").exists()  # nothing written on bad input


def _corrupt(split: Path, clip: str, name: str, edit) -> Path:
    p = split / "clips" / clip / name
    data = json.loads(p.read_text())
    edit(data)
    p.write_text(json.dumps(data))
    return p


@pytest.mark.parametrize("name,edit,message", [
    ("camera.json", lambda d: d["c2w"][3].pop(), "field c2w[3] must be 16 finite numbers"),
    ("camera.json", lambda d: d["c2w"][2].__setitem__(0, "1.0"), "field c2w[2] must be 16 finite numbers"),
    ("camera.json", lambda d: d.pop("height"), "field height must be a finite number"),
    ("events.json", lambda d: d["subjects"][0]["events"][0].__setitem__("entry_frame", 99),
     "subjects[0].events[0].entry_frame must be an integer in [0, 41]"),
    ("events.json", lambda d: d["subjects"][0]["events"][0].__setitem__("exit_frame", True),
     "subjects[0].events[0].exit_frame must be an integer"),
    ("events.json", lambda d: d.__setitem__("context_frames", 20), "context_frames + target_frames"),
    ("events.json", lambda d: d["subjects"][0].__setitem__("visible_intervals", [[0, 50]]),
     "subjects[0].visible_intervals[0]"),
    ("subjects.json", lambda d: d["subjects"][0]["frames"][4].__setitem__("position", [1, 2]),
     "subjects[0].frames[4].position must be 3 finite numbers"),
    ("subjects.json", lambda d: d["subjects"][0]["frames"].pop(), "subjects[0].frames has 41 entries"),
    ("subjects.json", lambda d: d["subjects"][0].__setitem__("description", ["x"]), "subjects[0].description"),
])
def test_malformed_clip_files_name_clip_file_and_field(tmp_path, name, edit, message):
    split = synthetic_split(tmp_path / "split")
    path = _corrupt(split, "train_s0_000000", name, edit)
    with pytest.raises(StatsError) as e:
        build_card(split, out=tmp_path / "card")
    assert "clip train_s0_000000" in str(e.value) and str(path) in str(e.value) and message in str(e.value)


def test_manifest_paths_must_stay_inside_the_split(tmp_path):
    split = synthetic_split(tmp_path / "split")
    import pandas as pd

    m = pd.read_parquet(split / "manifest.parquet")
    m.loc[0, "camera_path"] = "../../etc/passwd"
    m.to_parquet(split / "manifest.parquet", index=False)
    with pytest.raises(StatsError, match="camera_path .* is not a path inside the split"):
        build_card(split, out=tmp_path / "card")


def test_every_figure_has_a_definition_and_known_statistic():
    for f in FIGURES.values():
        assert f.text and f.per in ("clip", "event", "subject") and f.family in ("camera", "subjects", "events")
        assert f.stat in F.stats_for(f)
