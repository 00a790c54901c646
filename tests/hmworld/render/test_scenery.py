"""renderer.props_style=asset (issue 12): 0 A.D. terrain and mesh props on the real asset cache. Masks stay the
subjects' visible pixels (leaf cut-outs write neither ids nor depth), the compositor's and pre-filter's footprint
of a prop is its mesh's (and agrees with the rendered depth), reruns give the same bytes, and a missing file
names `hmworld assets`.

These tests read the machine's asset cache (scripts/setup.sh or `hmworld assets` installs it): without it they
fail with the command to run, as `hmworld render` does.
"""
from __future__ import annotations

import dataclasses
import json
import shutil

import numpy as np
import pytest

from hmworld.assets import zeroad
from hmworld.assets.scenery import (PROP_ASSETS, AssetScene, MeshProp, Scenery, scenery_catalog, scenery_files)
from hmworld.catalog import Prop
from hmworld.clipspec import ClipSpec, SubjectTrack, VideoSpec
from hmworld.compositor import _clear_of_props, _scene_props, box_distance
from hmworld.errors import ConfigError
from hmworld.events import PrefilterBatch, predicted_visibility
from hmworld.geometry import Intrinsics, look_at, project, world_to_camera
from hmworld.render import scenery as scenery_render
from hmworld.render.embedded import EmbeddedRenderer
from tests.testlib import SMALL, run_cli

W, H = 192, 144
TREE = (0.0, 0.0)
CRATE = (5.0, 0.0)


@pytest.fixture(scope="module")
def grove(catalog, real_cache):
    """The catalog plus two open scenes: `grove` (an oak 3 m tall and a 1.2 m crate turned 30 degrees) and
    `grove_bare` (the same ground, no props)."""
    base = catalog.scenes["meadow"]
    wood = base.props[0].material
    props = (Prop("tree", TREE, (2.0, 2.0, 3.0), wood, 0.0, "oak"), Prop("box", CRATE, (1.2, 1.2, 1.2), wood, 30.0, "crate"))
    scenes = {"grove": dataclasses.replace(base, name="grove", props=props, wall_height=0.0, terrain="grass"),
              "grove_bare": dataclasses.replace(base, name="grove_bare", props=(), wall_height=0.0, terrain="grass")}
    return dataclasses.replace(catalog, scenes={**catalog.scenes, **scenes})


def _spec(scene: str, eye, target, subjects=(), frames: int = 2) -> ClipSpec:
    tracks = [SubjectTrack(i + 1, name, "straight", 1.0, np.array([[x, y, 0.0]] * frames), np.full(frames, 0.3),
                           np.linspace(0, 0.4, frames)) for i, (name, (x, y)) in enumerate(subjects)]
    cam = look_at(np.array([eye] * frames, float), np.asarray(target, float))
    return ClipSpec("g", 0, 0, 0, "train", scene, VideoSpec(W, H, 15, 1, frames - 1), Intrinsics.from_hfov(W, H, 60),
                    "pan_away_back", "left", cam, tracks)


def _render(catalog, spec, quality="basic", props_style="asset"):
    with EmbeddedRenderer(catalog, read_depth=True, subjects_style="asset", props_style=props_style,
                          quality=quality) as r:
        return list(r.render(spec))


# a man 2.5 m behind the oak, seen through and beside its crown from a low camera
BEHIND_TREE = dict(eye=(0.3, -5.0, 1.0), target=(0.0, 2.5, 1.6), subjects=[("man_grey_suit", (0.2, 2.5))])


def test_masks_are_the_subjects_visible_pixels_and_cutouts_hide_nothing(grove, monkeypatch):
    props = _render(grove, _spec("grove", **BEHIND_TREE))[0]
    bare = _render(grove, _spec("grove_bare", **BEHIND_TREE))[0]
    mine, alone = props.instances == 1, bare.instances == 1
    # ids only where the subject's mesh is the nearest surface: a subset of its pixels alone, same depth there
    assert not np.any(mine & ~alone)
    np.testing.assert_array_equal(props.depth[mine], bare.depth[mine])
    hidden = alone & ~mine
    assert hidden.sum() > 20 and mine.sum() > 20  # the oak hides part of him, part shows
    assert np.all(props.depth[hidden] < bare.depth[hidden])  # hidden pixels have something nearer
    # The same oak drawn without its alpha test (leaf cards opaque, same geometry) hides more of him: the pixels
    # it adds were cut-outs in the real draw, where he shows with his own id and depth.
    monkeypatch.setitem(scenery_render.MODES, "alpha", 0)
    opaque = _render(grove, _spec("grove", **BEHIND_TREE))[0]
    through = mine & (opaque.instances == 0)
    assert through.sum() > 5
    np.testing.assert_array_equal(props.depth[through], bare.depth[through])
    assert (opaque.depth > 0).sum() > (props.depth > 0).sum()


def test_game_quality_keeps_the_props_masks_and_depth(grove):
    spec = _spec("grove", **BEHIND_TREE)
    basic, game = _render(grove, spec)[0], _render(grove, spec, "game")[0]
    np.testing.assert_array_equal(game.instances, basic.instances)
    np.testing.assert_array_equal(game.depth, basic.depth)


def test_footprint_box_is_the_meshes_on_the_ground(grove):
    scenery = Scenery()
    scene = scenery.scene(grove.scenes["grove"])
    assert isinstance(scene, AssetScene) and scene.terrain_texture
    for prop in scene.props:
        assert isinstance(prop, MeshProp)
        model = np.asarray(prop.model).reshape(4, 4)
        pts = scenery.mesh(prop.mesh).positions @ model[:3, :3].T + model[:3, 3]
        box = np.asarray(prop.box)
        assert box_distance(pts[:, :2], box[None]).max() < 1e-4  # every vertex inside ...
        c, s = np.cos(box[4]), np.sin(box[4])
        rel = pts[:, :2] - box[:2]
        along, across = np.abs(rel @ [c, s]), np.abs(rel @ [-s, c])
        np.testing.assert_allclose([along.max(), across.max()], box[2:4], atol=1e-4)  # ... and touching each side
        np.testing.assert_allclose([pts[:, 2].min(), pts[:, 2].max()], [0.0, prop.size[2]], atol=1e-4)
        assert prop.footprint_radius >= np.hypot(*(pts[:, :2] - prop.position).T).max() - 1e-4
    oak, crate = scene.props
    assert abs(oak.size[2] - 3.0) < 1e-6  # foliage keeps the scene's height
    assert max(crate.size) <= 1.2 + 1e-6  # other meshes fit inside the size box
    # the crate is a cube: its footprint is itself, turned by the prop's yaw
    np.testing.assert_allclose(crate.box[2], crate.box[3], rtol=1e-3)
    assert abs(np.degrees(crate.box[4]) - 30.0) < 1e-4  # (stored to a micro-radian)


def _sight(eye, point):
    """A subject standing twice as far as `point` along the sight line through it, whose centre (half its height
    up) the line passes through: (feet xy, height)."""
    eye, point = np.asarray(eye, float), np.asarray(point, float)
    feet = eye[:2] + 2.0 * (point[:2] - eye[:2])
    height = 2.0 * (eye[2] + 2.0 * (point[2] - eye[2]))
    return feet, height


def test_a_point_inside_the_footprint_occludes_in_the_model_and_in_the_render(grove):
    """A point inside the crate's footprint box (near a corner, below its top) hides what is behind it in the
    pre-filter's model, and the rendered depth there is nearer than the point; a point just outside the box
    hides nothing in either."""
    catalog = scenery_catalog(grove, "asset")
    crate = catalog.scenes["grove"].props[1]
    cx, cy, hx, hy, yaw = crate.box
    axes = np.array([[np.cos(yaw), np.sin(yaw)], [-np.sin(yaw), np.cos(yaw)]])  # rows: along, across
    eye = (CRATE[0], CRATE[1] - 6.0, 0.7)
    inside = np.array([cx, cy]) + axes.T @ [0.7 * hx, -0.7 * hy]
    reach_x = hx * abs(np.cos(yaw)) + hy * abs(np.sin(yaw))  # the box's extent to the side of the view
    outside = np.array([cx + reach_x + 0.3, cy])
    spec = _spec("grove", eye, (CRATE[0], CRATE[1], 0.6), frames=1)
    frame = _render(catalog, spec)[0]
    for xy, hides in ((inside, True), (outside, False)):
        point = np.array([xy[0], xy[1], 0.5 * crate.size[2]])
        cam = world_to_camera(point, spec.camera_c2w[0])
        u, v = np.round(project(cam, spec.intrinsics)).astype(int)
        assert 0 <= u < W and 0 <= v < H
        rendered = frame.depth[v, u]
        assert (0 < rendered < cam[2]) == hides, (hides, rendered, cam[2])
        feet, height = _sight(eye, point)
        probe = dataclasses.replace(catalog.subjects["man_grey_suit"], height=float(height))
        track = SubjectTrack(1, probe.name, "straight", 1.0, np.array([[feet[0], feet[1], 0.0]]), np.zeros(1),
                             np.zeros(1))
        clip = dataclasses.replace(spec, subjects=[track])
        batch = PrefilterBatch.from_specs([clip], catalog.scenes, {probe.name: probe})
        assert batch.prop_boxes is not None
        seen, _ = predicted_visibility(batch, W, H, min_pixels=1)
        unblocked, _ = predicted_visibility(batch, W, H, min_pixels=1, occluders=False)
        assert unblocked[0, 0, 0]
        assert seen[0, 0, 0] == (not hides)


def test_placement_keeps_clear_of_the_box_not_its_circle(grove):
    catalog = scenery_catalog(grove, "asset")
    props = _scene_props(catalog.scenes["grove"])
    crate = catalog.scenes["grove"].props[1]
    cx, cy, hx, hy, yaw = crate.box
    along = np.array([np.cos(yaw), np.sin(yaw)])
    edge = np.array([cx, cy]) + (hx + 0.1) * along  # 0.1 m off the box's side, inside its bounding circle
    assert np.hypot(*(edge - crate.position)) < crate.footprint_radius - 0.1
    np.testing.assert_allclose(box_distance(edge[None], props[1:, 3:]), [[0.1]], atol=1e-9)
    assert _clear_of_props(edge[None], props[1:], 0.05)
    assert not _clear_of_props(edge[None], props[1:], 0.15)


def test_same_clip_same_bytes(grove):
    spec = _spec("grove", **BEHIND_TREE)
    first, again = _render(grove, spec, "game"), _render(grove, spec, "game")
    for a, b in zip(first, again):
        assert a.rgb.tobytes() == b.rgb.tobytes() and a.instances.tobytes() == b.instances.tobytes()
        assert a.depth.tobytes() == b.depth.tobytes()


def test_terrain_is_the_real_texture_tiled_in_world_space(grove):
    """Looking straight down at the bare ground from two spots one terrain repeat apart: the same picture."""
    tile = scenery_catalog(grove, "asset").scenes["grove_bare"].terrain_tile_m
    views = []
    for x in (0.0, tile):
        spec = _spec("grove_bare", (x, 0.0, 3.0), (x, 3.0, 0.0), frames=1)
        views.append(_render(grove, spec)[0].rgb.astype(int))
    assert views[0].std() > 5  # a texture, not a flat colour
    assert np.abs(views[0] - views[1]).mean() < 1.0


def test_primitive_style_leaves_the_catalog_alone(catalog):
    assert scenery_catalog(catalog, "primitive") is catalog
    with pytest.raises(ConfigError, match="props_style"):
        scenery_catalog(catalog, "meshes")
    assert set(scenery_files()) <= set(zeroad.wanted_files())  # `hmworld assets` installs the scenery
    assert all(a.material in ("opaque", "alpha") for a in PROP_ASSETS.values())


def test_a_missing_scenery_file_names_the_install_command(real_cache, tmp_path, grove):
    copy = tmp_path / "cache" / real_cache.name
    shutil.copytree(real_cache, copy)
    (copy / scenery_files()[0]).unlink()
    with pytest.raises(zeroad.AssetsMissing, match="hmworld assets"):
        EmbeddedRenderer(grove, props_style="asset", asset_cache=str(tmp_path / "cache"))
    proc = run_cli("render", f"out={tmp_path / 'split'}", "num_clips=1", *SMALL, "progress=false",
                   "++renderer.props_style=asset", f"++renderer.runtime.asset_cache={tmp_path / 'cache'}", check=False)
    assert proc.returncode == 2 and "Traceback" not in proc.stderr
    assert "hmworld assets" in proc.stderr and len(proc.stderr.strip().splitlines()) == 1


def test_asset_props_split_records_the_scenery(tmp_path, real_cache):
    out = tmp_path / "split"
    run_cli("render", f"out={out}", "num_clips=1", "seed=3", *SMALL, "progress=false", "++renderer.props_style=asset",
            "++renderer.subjects_style=primitive", "++renderer.quality=basic")
    info = json.loads((out / "split.json").read_text())
    assert info["config"]["renderer"]["props_style"] == "asset"
    assert info["config"]["assets"]["packages"][0]["licence"] == "CC-BY-SA-3.0"
