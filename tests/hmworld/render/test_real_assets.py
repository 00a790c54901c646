"""The default renderer on the real 0 A.D. assets (issue 12): every catalog subject has an animated model of its
own COCO class, the GPU's masks are the numpy-skinned meshes, the default split records the licence and gives the
same bytes on a rerun, and set-up installs (or just verifies) the cache.

These tests read the machine's asset cache (scripts/setup.sh installs it; `hmworld assets` alone does too): without
it they fail with the command to run, as `hmworld render` itself does.
"""
from __future__ import annotations

import json
import os
import shutil
import subprocess
from pathlib import Path

import numpy as np
import pytest

from hmworld.assets import zeroad
from hmworld.clipspec import ClipSpec, SubjectTrack, VideoSpec
from hmworld.geometry import Intrinsics, look_at, project, world_to_camera
from tests.testlib import ROOT, SMALL, render_config, run_cli

W, H = 192, 144
PRIMITIVE = ["renderer.subjects_style=primitive", "renderer.props_style=primitive"]  # our own geometry only
# one subject per COCO class we render, and both people's meshes
CLASSES = ["man_grey_suit", "woman_green_dress", "dog_golden", "horse_white", "sheep_black", "cow_brown",
           "elephant_calf", "bear_black", "zebra_plains", "giraffe_young", "hen_brown"]


@pytest.fixture(scope="module")
def bodies(catalog, real_cache):
    from hmworld.assets.bodies import AssetBodies

    return AssetBodies(catalog)


def test_the_defaults_are_the_realistic_renderer():
    cfg = render_config("out=x")
    assert (cfg.renderer.subjects_style, cfg.renderer.quality, cfg.renderer.props_style) == ("asset", "game", "asset")
    quick = render_config("out=x", *PRIMITIVE, "renderer.quality=basic")
    assert (quick.renderer.subjects_style, quick.renderer.quality, quick.renderer.props_style) == (
        "primitive", "basic", "primitive")


def test_every_subject_has_an_animated_model_of_its_own_class(catalog, bodies):
    """49 subjects, each mapped to a 0 A.D. model whose COCO class is the subject's (a truthful label), that
    moves with the walk phase and has an idle pose different from its walk."""
    assert len(catalog.subjects) == 49
    assert {s.coco_name for s in catalog.subjects.values()} == {
        "person", "dog", "horse", "sheep", "cow", "elephant", "bear", "zebra", "giraffe", "bird"}
    for name, subject in catalog.subjects.items():
        mapped = zeroad.asset_for_subject(subject)
        assert mapped is not None, name
        spec = zeroad.ASSETS[mapped[0]]
        assert spec.coco == subject.coco_name, (name, mapped)
        asset = bodies.asset(mapped[0])
        stride = [asset.skinned_points(asset.pose(p, 0.0, 1.0)) for p in (0.0, 0.25, 0.5)]
        idle = asset.skinned_points(asset.pose(0.0, 0.5, 0.0))
        size = asset.height  # model units, ground to the top of the head
        # limbs move by a visible fraction of the body over half a stride, and standing is not walking
        assert np.abs(stride[0] - stride[2]).max() > 0.05 * size, name
        assert np.abs(stride[0] - stride[1]).max() > 0.02 * size, name
        assert np.abs(idle - stride[0]).max() > 0.02 * size, name


def test_stopping_blends_to_the_idle_cycle(catalog, bodies):
    """A subject that stops walking (its walk phase stops advancing) cross-fades to the idle cycle."""
    n, fps = 40, 15.0
    phase = np.concatenate([np.arange(20) * 0.08, np.full(20, 19 * 0.08)])  # walks, then stands
    motion = bodies.motion(catalog.subjects["horse_bay"], np.zeros((n, 3)), np.zeros(n), phase, fps)
    assert motion.walk_weight[5] == 1.0 and motion.walk_weight[-1] == 0.0
    assert np.all(np.diff(motion.walk_weight[19:]) <= 0) and 0 < motion.walk_weight[21] < 1  # a fade, not a cut
    assert not np.allclose(motion.pose(25), motion.pose(35))  # the idle cycle plays while it stands


def _spec(catalog, names, phases, heading=0.4):
    """The subjects side by side, walking in place, framed so the larger one fills about half the view."""
    frames = len(phases)
    size = max(max(catalog.subjects[n].height, catalog.subjects[n].length) for n in names)
    xs = [0.0] if len(names) == 1 else [-0.65 * size, 0.65 * size]
    tracks = [SubjectTrack(i + 1, n, "straight", 1.0, np.array([[xs[i], 0.0, 0.0]] * frames),
                           np.full(frames, heading), np.asarray(phases, float)) for i, n in enumerate(names)]
    cam = look_at(np.array([[0.0, -2.3 * size, 0.5 * size]] * frames), np.array([0.0, 0.0, 0.4 * size]))
    return ClipSpec("a", 0, 0, 0, "train", "meadow", VideoSpec(W, H, 15, 1, frames - 1),
                    Intrinsics.from_hfov(W, H, 60), "pan_away_back", "left", cam, tracks)


def _numpy_mask(spec, catalog, bodies, f: int, track) -> np.ndarray:
    """Pixel centres inside any triangle of the numpy-skinned, placed mesh (body and head)."""
    motion = bodies.motion(catalog.subjects[track.name], track.positions, track.headings, track.walk_phase,
                           spec.video.fps)
    asset = motion.asset
    world = motion.world_points()[f]
    faces = [asset.mesh.faces.astype(int)]
    if asset.head is not None:
        faces.append(asset.head.faces.astype(int) + len(asset.mesh.positions))
    uv = project(world_to_camera(world, spec.camera_c2w[f]), spec.intrinsics)
    mask = np.zeros((H, W), bool)
    for a, b, c in uv[np.concatenate(faces)]:
        x0, y0 = np.maximum(np.floor(np.minimum(np.minimum(a, b), c)).astype(int), 0)
        x1, y1 = np.ceil(np.maximum(np.maximum(a, b), c)).astype(int) + 1
        if x1 <= x0 or y1 <= y0:
            continue
        ys, xs = np.mgrid[y0:min(y1, H), x0:min(x1, W)].astype(float)
        d1 = (b[0] - a[0]) * (ys - a[1]) - (b[1] - a[1]) * (xs - a[0])
        d2 = (c[0] - b[0]) * (ys - b[1]) - (c[1] - b[1]) * (xs - b[0])
        d3 = (a[0] - c[0]) * (ys - c[1]) - (a[1] - c[1]) * (xs - c[0])
        mask[y0:min(y1, H), x0:min(x1, W)] |= ((d1 >= 0) & (d2 >= 0) & (d3 >= 0)) | ((d1 <= 0) & (d2 <= 0) & (d3 <= 0))
    return mask


def _grow(mask: np.ndarray) -> np.ndarray:
    pad = np.pad(mask, 1)
    return np.any([pad[1 + dy:1 + dy + mask.shape[0], 1 + dx:1 + dx + mask.shape[1]]
                   for dy in (-1, 0, 1) for dx in (-1, 0, 1)], axis=0)


@pytest.mark.parametrize("pair", [CLASSES[i:i + 2] for i in range(0, len(CLASSES), 2)], ids=lambda p: "+".join(p))
def test_default_renderer_masks_are_the_skinned_meshes(catalog, bodies, real_cache, pair):
    """The default renderer (asset subjects, game quality) on the real meshes: each instance mask equals the
    numpy-skinned mesh's coverage away from its one-pixel silhouette edge, every COCO class we render."""
    from hmworld.render.embedded import EmbeddedRenderer

    spec = _spec(catalog, pair, [0.0, 0.3, 0.6])
    with EmbeddedRenderer(catalog, read_depth=True, subjects_style="asset", quality="game") as r:
        frames = list(r.render(spec))
    cutout = {"wolfhound", "peacock"}  # alpha-tested fur and feathers: the GPU cuts texels the mesh still covers
    for f, frame in enumerate(frames):
        for track in spec.subjects:
            want = _numpy_mask(spec, catalog, bodies, f, track)
            got = frame.instances == track.instance_id
            assert want.sum() > 60, (track.name, f)
            edge = _grow(want) & _grow(~want)
            if zeroad.asset_for_subject(catalog.subjects[track.name])[0] in cutout:
                assert not np.any(got & ~want & ~edge), (track.name, f)  # never outside the mesh
                assert (got & want).sum() / want.sum() > 0.6, (track.name, f)
            else:
                assert not np.any((got != want) & ~edge), (track.name, f)
                assert (got & want).sum() / (got | want).sum() > 0.95, (track.name, f)
    assert not np.array_equal(frames[0].instances, frames[2].instances)  # they walk


def _tree_bytes(root: Path) -> dict[str, bytes]:
    return {str(p.relative_to(root)): p.read_bytes() for p in sorted(root.rglob("*"))
            if p.is_file() and p.name != "split.json"}


def test_default_split_records_the_licence_and_reruns_byte_identical(real_cache, tmp_path):
    """`hmworld render` with no style or quality setting: split.json's identity holds the realistic styles and
    the art's package and licence; a second run into another folder gives the same bytes in every clip file; the
    annotations are consistent (every visible box inside its full box, events only where masks say so)."""
    args = ["num_clips=2", "seed=3", *SMALL, "progress=false"]
    run_cli("render", f"out={tmp_path / 'a'}", *args)
    run_cli("render", f"out={tmp_path / 'b'}", *args)
    info = json.loads((tmp_path / "a" / "split.json").read_text())
    r = info["config"]["renderer"]
    assert (r["subjects_style"], r["quality"], r["props_style"]) == ("asset", "game", "asset")
    (package,) = info["config"]["assets"]["packages"]
    assert package["package"] == "0ad-data" and package["licence"] == "CC-BY-SA-3.0"
    assert "Wildfire Games" in package["attribution"] and "CC-BY-SA" in package["share_alike"]
    a, b = _tree_bytes(tmp_path / "a"), _tree_bytes(tmp_path / "b")
    assert a.keys() == b.keys() and any(k.endswith("video.mp4") for k in a)
    assert [k for k in a if a[k] != b[k]] == []
    primitive = tmp_path / "p"
    run_cli("render", f"out={primitive}", *args, *PRIMITIVE)
    other = json.loads((primitive / "split.json").read_text())
    assert "assets" not in other["config"] and other["fingerprint"] != info["fingerprint"]


def test_a_corrupt_cache_is_named_with_the_install_command(real_cache, tmp_path):
    """A cache whose file differs from its manifest (same size, other bytes) stops the default render with exit
    status 2 and one line naming `hmworld assets`; `hmworld assets` repairs it from a local .deb-less state
    only by downloading, so here we check the message and the status command."""
    copy = tmp_path / "cache" / real_cache.name
    shutil.copytree(real_cache, copy)
    victim = copy / zeroad.mesh_path(zeroad.ASSETS["horse"].mesh)
    data = bytearray(victim.read_bytes())
    data[100] ^= 0xFF
    victim.write_bytes(bytes(data))
    env = {"HMWORLD_ASSET_CACHE": str(tmp_path / "cache")}
    proc = run_cli("render", f"out={tmp_path / 'split'}", "num_clips=1", *SMALL, "progress=false", check=False, env=env)
    assert proc.returncode == 2 and "Traceback" not in proc.stderr
    (line,) = [x for x in proc.stderr.splitlines() if x.strip()]
    assert "hmworld assets" in line and "horse_celtic" in line and "sha256" in line
    status = run_cli("assets", "action=status", check=False, env=env)
    assert status.returncode == 1 and "hmworld assets" in status.stdout


def test_setup_asset_step_verifies_a_complete_cache_quickly(real_cache, tmp_path):
    """scripts/setup.sh's asset step on a machine that has the cache: verified, not downloaded, in well under a
    second of work, and one line saying where, how many files, how big and how long."""
    script = (ROOT / "scripts" / "setup.sh").read_text()
    step = script[script.index("# The embedded renderer's default subjects"):]
    shutil.copytree(real_cache, tmp_path / "cache" / real_cache.name)
    proc = subprocess.run(["bash", "-euo", "pipefail", "-c", step], cwd=ROOT, capture_output=True, text=True,
                          timeout=120, env={**os.environ, "HMWORLD_ASSET_CACHE": str(tmp_path / "cache")})
    assert proc.returncode == 0, proc.stderr
    (line,) = proc.stdout.splitlines()
    assert line.startswith("setup: asset cache complete:") and str(tmp_path / "cache") in line
    assert f"{len(zeroad.wanted_files())} files" in line and " MB" in line and "verified in" in line
    assert not (tmp_path / "cache" / ".download").exists()  # nothing was downloaded
