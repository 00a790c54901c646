"""The embedded renderer: masks agree with the projected geometry, depth with the camera, bytes with reruns."""
import numpy as np
import pytest

from hmworld.annotations import mask_boxes, projected_boxes
from hmworld.body import Body
from hmworld.clipspec import ClipSpec, SubjectTrack, VideoSpec
from hmworld.geometry import Intrinsics, look_at, world_to_camera
from hmworld.render.embedded import EmbeddedRenderer

W, H = 160, 96


@pytest.fixture(scope="module")
def renderer(catalog):
    r = EmbeddedRenderer(catalog, read_depth=True)
    yield r
    r.close()


def _spec(names, xs, scene="meadow", frames=4, camera_x=0.0, width=W, height=H):
    """Subjects side by side walking in place in front of a fixed camera."""
    tracks = []
    for i, (name, x) in enumerate(zip(names, xs)):
        pos = np.array([[x, 0.0, 0.0]] * frames)
        tracks.append(SubjectTrack(i + 1, name, "straight", 1.0, pos, np.full(frames, np.pi / 2 + 0.4),
                                   np.linspace(0, 0.75, frames)))
    cam = look_at(np.array([[camera_x, -9.0, 1.6]] * frames), np.array([camera_x, 0.0, 0.9]))
    return ClipSpec("t", 0, 0, 0, "train", scene, VideoSpec(width, height, 15, frames // 2, frames - frames // 2),
                    Intrinsics.from_hfov(width, height, 70), "pan_away_back", "left", cam, tracks)


def test_instance_masks_agree_with_projected_geometry(renderer, catalog):
    # large enough that thin limbs cover pixel centres (sub-pixel parts legitimately leave no mask pixels)
    spec = _spec(["man_red_hoodie", "horse_bay", "dog_dalmatian"], [-3.0, 0.5, 3.5], width=480, height=288)
    frames = list(renderer.render(spec))
    ids = np.stack([f.instances for f in frames])
    assert set(np.unique(ids)) == {0, 1, 2, 3}
    for t in spec.subjects:
        body = Body(catalog.subjects[t.name])
        full = projected_boxes(spec, body, body.posed_transforms(t.positions, t.headings, t.walk_phase))
        seen = mask_boxes(ids, t.instance_id)
        assert not np.isnan(full).any() and not np.isnan(seen).any()
        # every mask pixel lies inside the projected box, and the box is tight (unoccluded subjects)
        assert np.all(seen[:, :2] >= np.floor(full[:, :2]) - 1) and np.all(seen[:, 2:] <= np.ceil(full[:, 2:]) + 1)
        np.testing.assert_allclose(seen, full, atol=2.0)


def test_limbs_move_with_the_walk_phase(renderer):
    spec = _spec(["man_red_hoodie"], [0.0])
    ids = np.stack([f.instances for f in renderer.render(spec)])
    assert not np.array_equal(ids[0], ids[1])  # same place, different phase: a different silhouette


def test_depth_is_metric_camera_z(renderer):
    spec = _spec(["cow_brown"], [0.0])
    frame = next(iter(renderer.render(spec)))
    ys, xs = np.nonzero(frame.instances == 1)
    cam = world_to_camera(spec.subjects[0].positions[0], spec.camera_c2w[0])
    # the cow's pixels are about as far as the cow (within its body size)
    assert abs(np.median(frame.depth[ys, xs]) - cam[2]) < 1.5
    sky = frame.instances == 0
    assert (frame.depth[sky] >= 0).all() and (frame.depth == 0).any()  # sky pixels carry 0


def test_occluders_hide_subjects_and_the_mask_knows(renderer, catalog):
    # put a subject right behind the first prop of a scene, the camera in front of the prop
    scene = catalog.scenes["warehouse"]
    prop = max(scene.props, key=lambda p: p.size[2] * min(p.size[:2]))
    px, py = prop.position
    frames = 2
    track = SubjectTrack(1, "dog_golden", "straight", 1.0, np.array([[px, py + prop.footprint_radius + 0.6, 0.0]] * frames),
                         np.zeros(frames), np.zeros(frames))
    cam = look_at(np.array([[px, py - 6.0, 0.4]] * frames), np.array([px, py, 0.35]))
    spec = ClipSpec("o", 0, 0, 0, "train", "warehouse", VideoSpec(W, H, 15, 1, 1), Intrinsics.from_hfov(W, H, 60),
                    "x", "left", cam, [track])
    hidden = next(iter(renderer.render(spec))).instances
    spec.scene = "meadow"  # same poses, no prop
    shown = next(iter(renderer.render(spec))).instances
    assert (shown == 1).sum() > 20
    assert (hidden == 1).sum() < (shown == 1).sum() / 4


def test_same_spec_same_pixels_on_a_fresh_context(renderer, catalog):
    spec = _spec(["zebra_plains", "woman_green_dress"], [-1.0, 2.0], scene="courtyard")
    a = [f.rgb.copy() for f in renderer.render(spec)]
    other = EmbeddedRenderer(catalog)
    try:
        b = [f.rgb for f in other.render(spec)]
    finally:
        other.close()
    for x, y in zip(a, b):
        np.testing.assert_array_equal(x, y)
    assert a[0].std() > 10  # textured and lit, not a flat image


def test_torch_and_triton_can_be_imported_after_rendering():
    """llvmpipe and triton carry separate LLVMs: importing triton after an EGL context used to segfault."""
    import subprocess
    import sys

    code = ("from hmworld.catalog import load_catalog\nfrom hmworld.render.embedded import EmbeddedRenderer\n"
            "r = EmbeddedRenderer(load_catalog())\nimport torch, triton, transformers\nprint('ok')")
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0 and proc.stdout.strip() == "ok", proc.stderr[-2000:]
