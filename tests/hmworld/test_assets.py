"""Asset readers, skinning and the skinned-subject preview (renderer.subjects_style=asset), without the 0ad
package: the tests write tiny models in the real PMD/PSA/DDS formats, pack them into a real .deb laid out like
Debian's 0ad-data (one zip inside), and run the real extraction, readers, GPU skinning and error paths on it."""
from __future__ import annotations

import io
import json
import os
import struct
import subprocess
import zipfile
from pathlib import Path

import numpy as np
import pytest

from hmworld.assets import zeroad
from hmworld.assets.formats import NO_BONE, AssetFormatError, read_pmd, read_psa
from hmworld.assets.scenery import scenery_files
from hmworld.assets.skinning import (ZEROAD_TO_LOCAL, animation_pose, blended_pose, pose_matrices, prop_transform,
                                     skin_palette, skin_vertices, walk_weights)
from hmworld.clipspec import ClipSpec, SubjectTrack, VideoSpec
from hmworld.geometry import Intrinsics, look_at, project, world_to_camera
from tests.testlib import HMWORLD, SMALL, run_cli

S45 = float(np.sqrt(0.5))
BEND = (S45, 0.0, 0.0, S45)  # 90 degrees about x, quaternion (x, y, z, w)


# ------------------------------------------------------------------------ writers of the real formats
def _string(s: str) -> bytes:
    b = s.encode()
    return struct.pack("<I", len(b)) + b


def pmd_bytes(positions, normals, uvs, bones, weights, faces, bind, props=(), version=4) -> bytes:
    """PSMD: header, vertices (position, normal, uv, 4 bone bytes, 4 weights), u16 faces, bind pose, props."""
    body = struct.pack("<I", len(positions)) + (struct.pack("<I", 1) if version >= 4 else b"")
    for p, n, uv, b, w in zip(positions, normals, uvs, bones, weights):
        body += struct.pack("<3f3f2f4B4f", *p, *n, *uv, *b, *w)
    body += struct.pack("<I", len(faces)) + b"".join(struct.pack("<3H", *f) for f in faces)
    body += struct.pack("<I", len(bind)) + b"".join(struct.pack("<3f4f", *t, *q) for t, q in bind)
    body += struct.pack("<I", len(props))
    for name, t, q, bone in props:
        body += _string(name) + struct.pack("<3f4fB", *t, *q, bone)
    return b"PSMD" + struct.pack("<II", version, len(body)) + body


def psa_bytes(name: str, frame_ms: float, frames) -> bytes:
    """PSSA: header, name, frame length, bone and frame counts, then every frame's bone states."""
    body = _string(name) + struct.pack("<fII", frame_ms, len(frames[0]), len(frames))
    body += b"".join(struct.pack("<3f4f", *t, *q) for frame in frames for t, q in frame)
    return b"PSSA" + struct.pack("<II", 1, len(body)) + body


def dds_bytes(rgba) -> bytes:
    from PIL import Image

    out = io.BytesIO()
    Image.fromarray(np.full((8, 8, 4), rgba, np.uint8)).save(out, "DDS", pixel_format="DXT5")
    return out.getvalue()


def box(x0, x1, y0, y1, z0, z1):
    """Corners and the 12 triangles of an axis-aligned box."""
    c = np.array([[x, y, z] for y in (y0, y1) for z in (z0, z1) for x in (x0, x1)], float)
    quads = [(0, 1, 3, 2), (4, 6, 7, 5), (0, 4, 5, 1), (2, 3, 7, 6), (0, 2, 6, 4), (1, 5, 7, 3)]
    return c, [t for a, b, cc, d in quads for t in ((a, b, cc), (a, cc, d))]


def two_bone_mesh() -> bytes:
    """A 2-unit pillar (0 A.D. units, y up): the lower ring on bone 0, the middle ring shared half and half,
    the upper ring on bone 1 (which sits at y = 1); a "head" prop point one unit up bone 1."""
    ring = [(x, z) for z in (-0.5, 0.5) for x in (-0.25, 0.25)]
    pos = np.array([[x, y, z] for y in (0.0, 1.0, 2.0) for x, z in ring])
    bones = [(0, NO_BONE, NO_BONE, NO_BONE)] * 4 + [(0, 1, NO_BONE, NO_BONE)] * 4 + [(1, NO_BONE, NO_BONE, NO_BONE)] * 4
    weights = [(1, 0, 0, 0)] * 4 + [(0.5, 0.5, 0, 0)] * 4 + [(1, 0, 0, 0)] * 4
    quads = []
    for level in (0, 4):
        a, b, c, d = level, level + 1, level + 3, level + 2  # around the ring: (-x,-z) (+x,-z) (+x,+z) (-x,+z)
        for p, q in ((a, b), (b, c), (c, d), (d, a)):
            quads.append((p, q, q + 4, p + 4))
    quads += [(0, 1, 3, 2), (8, 9, 11, 10)]
    faces = [t for a, b, c, d in quads for t in ((a, b, c), (a, c, d))]
    normals = pos * [1, 0, 1] / np.linalg.norm(pos * [1, 0, 1], axis=1, keepdims=True)
    bind = [((0, 0, 0), (0, 0, 0, 1)), ((0, 1, 0), (0, 0, 0, 1))]
    return pmd_bytes(pos, normals, [(0.5, 0.5)] * len(pos), bones, weights, faces, bind,
                     [("root", (0, 0, 0), (0, 0, 0, 1), NO_BONE), ("head", (0, 1, 0), (0, 0, 0, 1), 1)])


def head_mesh() -> bytes:
    pos, faces = box(-0.1, 0.1, 0.0, 0.2, -0.1, 0.1)
    n = len(pos)
    return pmd_bytes(pos, pos / np.linalg.norm(pos, axis=1, keepdims=True), [(0.5, 0.5)] * n,
                     [(NO_BONE,) * 4] * n, [(0, 0, 0, 0)] * n, faces, [])


def walk_anim() -> bytes:
    rest = [((0, 0, 0), (0, 0, 0, 1)), ((0, 1, 0), (0, 0, 0, 1))]
    bent = [((0, 0, 0), (0, 0, 0, 1)), ((0, 1, 0), BEND)]
    return psa_bytes("walk", 33.3, [rest, bent, rest])


def idle_anim() -> bytes:
    rest = [((0, 0, 0), (0, 0, 0, 1)), ((0, 1, 0), (0, 0, 0, 1))]
    return psa_bytes("idle", 33.3, [rest, rest])


def package_files() -> dict[str, bytes]:
    files = {}
    for spec in zeroad.ASSETS.values():
        files[zeroad.mesh_path(spec.mesh)] = two_bone_mesh()
        files[zeroad.anim_path(spec.walk)] = walk_anim()
        files[zeroad.anim_path(spec.idle)] = idle_anim()
        for t in spec.textures:
            files[zeroad.texture_path(t)] = dds_bytes((200, 120, 60, 255))
        if spec.head is not None:
            files[zeroad.mesh_path(spec.head.mesh)] = head_mesh()
            for t in spec.head.textures:
                files[zeroad.texture_path(t)] = dds_bytes((230, 190, 160, 255))
    for rel in scenery_files():  # the scenery's static meshes and textures (renderer.props_style=asset)
        files[rel] = head_mesh() if rel.endswith(".pmd") else dds_bytes((90, 140, 60, 255))
    return files


def build_deb(root: Path, files: dict[str, bytes], extra: dict[str, bytes] | None = None) -> Path:
    """A .deb laid out as Debian's 0ad-data: the art in one zip (plus unrelated members), a copyright file."""
    pkg = root / "pkg"
    zip_path = pkg / zeroad.ZIP_MEMBER
    zip_path.parent.mkdir(parents=True)
    with zipfile.ZipFile(zip_path, "w") as z:
        z.writestr("art/unrelated/before.txt", b"x" * 1000, zipfile.ZIP_DEFLATED)
        for name, data in sorted({**files, **(extra or {})}.items()):
            z.writestr(name, data, zipfile.ZIP_STORED if name.endswith(".dds") else zipfile.ZIP_DEFLATED)
    copyright_path = pkg / zeroad.COPYRIGHT_MEMBER
    copyright_path.parent.mkdir(parents=True)
    copyright_path.write_text("Files: *\nLicense: CC-BY-SA-3.0 (test package)\n")
    (pkg / "DEBIAN").mkdir()
    (pkg / "DEBIAN" / "control").write_text(
        "Package: 0ad-data\nVersion: 0.0.26-1\nArchitecture: all\nMaintainer: test <t@example.org>\n"
        "Description: test stand-in\n")
    deb = root / "0ad-data_0.0.26-1_all.deb"
    subprocess.run(["dpkg-deb", "-Zgzip", "--root-owner-group", "--build", str(pkg), str(deb)], check=True,
                   capture_output=True)
    return deb


@pytest.fixture(scope="module")
def asset_cache(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("assets")
    deb = build_deb(root, package_files())
    zeroad.fetch(root / "cache", deb, log=lambda s: None)
    return root / "cache"


# ----------------------------------------------------------------------------------------------- readers
def test_pmd_reader_reads_every_field():
    mesh = read_pmd(two_bone_mesh())
    assert mesh.positions.shape == (12, 3) and mesh.faces.shape == (20, 3) and mesh.num_bones == 2
    np.testing.assert_array_equal(mesh.positions[8], [-0.25, 2.0, -0.5])
    np.testing.assert_array_equal(mesh.bone_ids[4], [0, 1, NO_BONE, NO_BONE])
    np.testing.assert_allclose(mesh.bone_weights[4], [0.5, 0.5, 0, 0])
    np.testing.assert_allclose(mesh.bind_pose["translation"][1], [0, 1, 0])
    assert [(p.name, p.bone) for p in mesh.props] == [("root", None), ("head", 1)]
    assert mesh.uvs.shape == (12, 1, 2)


def test_pmd_version_3_has_one_uv_set_and_no_count():
    data = pmd_bytes([(0, 0, 0), (1, 0, 0), (0, 1, 0)], [(0, 0, 1)] * 3, [(0, 0), (1, 0), (0, 1)],
                     [(NO_BONE,) * 4] * 3, [(0, 0, 0, 0)] * 3, [(0, 1, 2)], [], version=3)
    mesh = read_pmd(data)
    assert mesh.version == 3 and mesh.uvs.shape == (3, 1, 2) and mesh.num_bones == 0


def test_psa_reader_reads_frames_in_order():
    anim = read_psa(walk_anim())
    assert (anim.num_frames, anim.num_bones, anim.name) == (3, 2, "walk")
    np.testing.assert_allclose(anim.keys[1, 1]["rotation"], BEND, rtol=1e-6)
    np.testing.assert_allclose(anim.keys[2, 1]["rotation"], (0, 0, 0, 1))


@pytest.mark.parametrize("data, message", [
    (b"PSMX" + bytes(20), "not a PSMD"),
    (two_bone_mesh()[:-9], "header says"),
    (b"PSMD" + struct.pack("<III", 9, 4, 0), "version 9"),
])
def test_bad_files_are_named_errors(data, message):
    with pytest.raises(AssetFormatError, match=message):
        read_pmd(data, "bad.pmd")


def test_truncated_psa_is_an_error():
    data = walk_anim()
    data = data[:8] + struct.pack("<I", len(data) - 12 - 28) + data[12:-28]
    with pytest.raises(AssetFormatError, match="truncated"):
        read_psa(data)


# --------------------------------------------------------------------------------------------- skinning
def test_skinning_matches_hand_computed_poses():
    mesh, anim = read_pmd(two_bone_mesh()), read_psa(walk_anim())
    np.testing.assert_allclose(skin_vertices(mesh, skin_palette(mesh, animation_pose(anim, 0.0))), mesh.positions,
                               atol=1e-6)
    bent = skin_vertices(mesh, skin_palette(mesh, animation_pose(anim, 0.5)))  # frame 1 of a 3-frame loop
    # the top ring turns 90 degrees about x around (0, 1, 0): (x, 2, z) -> (x, 1 - z, 1)
    np.testing.assert_allclose(bent[8:], [[x, 1 - z, 1.0] for x, _, z in mesh.positions[8:]], atol=1e-6)
    # the middle ring is the average of staying and turning: (x, 1, z) -> (x, 1 - z / 2, z / 2)
    np.testing.assert_allclose(bent[4:8], [[x, 1 - z / 2, z / 2] for x, _, z in mesh.positions[4:8]], atol=1e-6)
    np.testing.assert_allclose(bent[:4], mesh.positions[:4], atol=1e-6)
    # halfway between frames: 45 degrees (normalised lerp of the quaternions)
    half = skin_vertices(mesh, skin_palette(mesh, animation_pose(anim, 0.25)))
    c = np.cos(np.pi / 4)
    np.testing.assert_allclose(half[11], [0.25, 1 + c * 1 - c * 0.5, c * 1 + c * 0.5], atol=1e-6)
    # the head prop rides bone 1
    head = prop_transform(mesh.props[1], animation_pose(anim, 0.5))
    np.testing.assert_allclose(head[:3, 3], [0, 1, 1], atol=1e-6)
    np.testing.assert_allclose(pose_matrices(mesh.bind_pose)[1, :3, 3], [0, 1, 0])


def test_walk_and_idle_cross_fade():
    mesh, walk = read_pmd(two_bone_mesh()), read_psa(walk_anim())
    bent = read_psa(psa_bytes("bent", 33.3, [[((0, 0, 0), (0, 0, 0, 1)), ((0, 1, 0), BEND)]] * 2))
    # half walk (rest at phase 0) and half the bent idle: 45 degrees, as halfway through the walk's first span
    halfway = skin_vertices(mesh, skin_palette(mesh, blended_pose(walk, 0.0, bent, 0.0, 0.5)))
    np.testing.assert_allclose(halfway, skin_vertices(mesh, skin_palette(mesh, animation_pose(walk, 0.25))), atol=1e-6)
    np.testing.assert_allclose(blended_pose(walk, 0.5, bent, 0.0, 1.0), animation_pose(walk, 0.5))
    np.testing.assert_allclose(blended_pose(walk, 0.5, bent, 0.0, 0.0), animation_pose(bent, 0.0))
    w = walk_weights(np.array([1, 1, 0, 0, 0, 0, 0, 1, 1], bool), fps=10, fade_s=0.3)
    np.testing.assert_allclose(w, [1, 1, 2 / 3, 1 / 3, 0, 0, 0, 1 / 3, 2 / 3])


def test_axes_turn_zeroad_models_into_our_frame():
    # 0 A.D.: y up, facing -z, left at +x  ->  ours: z up, facing +x, left at +y
    np.testing.assert_array_equal(ZEROAD_TO_LOCAL @ [0, 1, 0], [0, 0, 1])
    np.testing.assert_array_equal(ZEROAD_TO_LOCAL @ [0, 0, -1], [1, 0, 0])
    np.testing.assert_array_equal(ZEROAD_TO_LOCAL @ [1, 0, 0], [0, 1, 0])


# ---------------------------------------------------------------------------------- extraction, cache
def test_extraction_keeps_only_the_subset_with_a_manifest(asset_cache, tmp_path):
    cache = zeroad.asset_cache_dir(asset_cache)
    m = zeroad.manifest(cache)
    assert m["package"] == "0ad-data" and m["version"] == "0.0.26-1" and m["licence"] == "CC-BY-SA-3.0"
    assert sorted(m["files"]) == zeroad.wanted_files()
    assert not (cache / "art/unrelated").exists() and (cache / "copyright").read_text().startswith("Files:")
    for rel, entry in m["files"].items():
        import hashlib

        assert hashlib.sha256((cache / rel).read_bytes()).hexdigest() == entry["sha256"]
    assert zeroad.verify_cache(cache, hashes=True) == []


def test_fetch_is_idempotent_and_repairs(tmp_path):
    deb = build_deb(tmp_path, package_files())
    root = tmp_path / "cache"
    cache = zeroad.fetch(root, deb, log=lambda s: None)
    one = cache / zeroad.wanted_files()[0]
    stamp = one.stat().st_mtime_ns
    zeroad.fetch(root, deb, log=lambda s: None)
    assert one.stat().st_mtime_ns == stamp  # a complete cache is left alone
    one.write_bytes(b"damaged")
    assert zeroad.verify_cache(cache)
    zeroad.fetch(root, deb, log=lambda s: None)
    assert zeroad.verify_cache(cache, hashes=True) == []


def test_a_package_missing_a_file_is_an_error(tmp_path):
    files = package_files()
    files.pop(zeroad.wanted_files()[0])
    with pytest.raises(Exception, match="wanted files are not in the package"):
        zeroad.extract(build_deb(tmp_path, files), tmp_path / "cache")


def test_every_subject_maps_to_an_asset_of_its_class(catalog, tmp_path):
    for name, subject in catalog.subjects.items():
        asset, variant = zeroad.asset_for_subject(subject)
        assert zeroad.ASSETS[asset].coco == subject.coco_name, name
        assert 0 <= variant < len(zeroad.ASSETS[asset].textures)
    cat = extra_cat_catalog(tmp_path).subjects["cat_test"]  # no cat in 0ad-data: a cat added by a user has none
    assert zeroad.asset_for_subject(cat) is None


def test_cli_status_and_fetch(tmp_path):
    deb = build_deb(tmp_path, package_files())
    missing = run_cli("assets", "action=status", f"cache_dir={tmp_path / 'c'}", check=False)
    assert missing.returncode == 1 and "hmworld assets" in missing.stdout
    run_cli("assets", f"cache_dir={tmp_path / 'c'}", f"deb={deb}")
    ok = run_cli("assets", "action=status", f"cache_dir={tmp_path / 'c'}")
    assert "CC-BY-SA-3.0" in ok.stdout
    bad = run_cli("assets", "colour=red", check=False)
    assert bad.returncode == 2 and "Traceback" not in bad.stderr


def extra_cat_catalog(root: Path):
    """The catalog plus a cat from catalog_dirs (our catalog has none since its cats were replaced)."""
    from hmworld.catalog import load_catalog

    (root / "subject").mkdir(parents=True, exist_ok=True)
    (root / "subject" / "cat_test.yaml").write_text(
        "kind: animal\ncoco_class: cat\nbody_plan: quadruped\ndescription: a test cat\nheight: 0.3\nlength: 0.5\n"
        "colors: {body: [0.5, 0.5, 0.5]}\nspeed: [0.6, 1.3]\nstride: 0.55\n")
    return load_catalog([str(root)])


# --------------------------------------------------------------------------------------------- rendering
W, H = 160, 120
PRIMITIVE = ["renderer.subjects_style=primitive", "renderer.props_style=primitive"]  # our own geometry only


def _spec(names, phases, heading=0.0):
    frames = len(phases)
    tracks = [SubjectTrack(i + 1, n, "straight", 1.0, np.array([[2.5 * i - 1.2, 0.0, 0.0]] * frames),
                           np.full(frames, heading), np.asarray(phases, float)) for i, n in enumerate(names)]
    cam = look_at(np.array([[0.0, -7.0, 1.0]] * frames), np.array([0.0, 0.0, 1.0]))
    return ClipSpec("a", 0, 0, 0, "train", "meadow", VideoSpec(W, H, 15, 1, frames - 1), Intrinsics.from_hfov(W, H, 60),
                    "pan_away_back", "left", cam, tracks)


def _expected_mask(spec, catalog, renderer, f: int, track) -> np.ndarray:
    """Pixel centres covered by the numpy-skinned mesh (body and head), projected with the clip's camera."""
    from hmworld.assets.bodies import load_asset

    subject = catalog.subjects[track.name]
    name, _ = zeroad.asset_for_subject(subject)
    asset = load_asset(renderer.skinned.cache, name)
    pose = asset.pose(track.walk_phase[f], 0.0, 1.0)  # the phase advances every frame: walking
    parts = [(skin_vertices(asset.mesh, skin_palette(asset.mesh, pose)), asset.mesh.faces)]
    if asset.head is not None:
        hm = prop_transform(asset.head_prop, pose)
        parts.append((asset.head.positions @ hm[:3, :3].T + hm[:3, 3], asset.head.faces))
    axes = renderer.bodies.axes(subject)  # height from the catalog, people's width from proportions.shoulder
    c, s = np.cos(track.headings[f]), np.sin(track.headings[f])
    root = np.array([[c, -s, 0], [s, c, 0], [0, 0, 1.0]])
    ys, xs = np.mgrid[0:H, 0:W].astype(float)  # pixel centres sit at integer coordinates (hmworld.geometry)
    mask = np.zeros((H, W), bool)
    for verts, faces in parts:
        world = (verts @ axes.T) @ root.T + track.positions[f]
        uv = project(world_to_camera(world, spec.camera_c2w[f]), spec.intrinsics)
        for a, b, cc in uv[faces.astype(int)]:
            d1 = (b[0] - a[0]) * (ys - a[1]) - (b[1] - a[1]) * (xs - a[0])
            d2 = (cc[0] - b[0]) * (ys - b[1]) - (cc[1] - b[1]) * (xs - b[0])
            d3 = (a[0] - cc[0]) * (ys - cc[1]) - (a[1] - cc[1]) * (xs - cc[0])
            mask |= ((d1 >= 0) & (d2 >= 0) & (d3 >= 0)) | ((d1 <= 0) & (d2 <= 0) & (d3 <= 0))
    return mask


def _grow(mask: np.ndarray) -> np.ndarray:
    """The mask and its 8 neighbours."""
    pad = np.pad(mask, 1)
    return np.any([pad[1 + dy:1 + dy + mask.shape[0], 1 + dx:1 + dx + mask.shape[1]]
                   for dy in (-1, 0, 1) for dx in (-1, 0, 1)], axis=0)


@pytest.fixture(scope="module")
def asset_renderer(catalog, asset_cache):
    from hmworld.render.embedded import EmbeddedRenderer

    r = EmbeddedRenderer(catalog, read_depth=True, subjects_style="asset", asset_cache=str(asset_cache))
    yield r
    r.close()


def test_gpu_skinning_matches_the_numpy_reference(asset_renderer, catalog):
    spec = _spec(["man_red_hoodie", "horse_bay"], [0.0, 0.25, 0.5], heading=0.3)
    frames = list(asset_renderer.render(spec))
    for f, frame in enumerate(frames):
        for track in spec.subjects:
            want = _expected_mask(spec, catalog, asset_renderer, f, track)
            got = frame.instances == track.instance_id
            assert want.sum() > 150
            # identical away from the silhouette's edge (pixel centres within rounding of an edge may go either way)
            edge = _grow(want) & _grow(~want)
            assert not np.any((got != want) & ~edge), (f, track.name)
            assert (got & want).sum() / (got | want).sum() > 0.97
    ids0, ids2 = frames[0].instances, frames[2].instances
    assert not np.array_equal(ids0, ids2)  # the bone moved with the walk phase


def test_subjects_without_an_asset_keep_their_primitive_body(asset_cache, tmp_path):
    from hmworld.render.embedded import EmbeddedRenderer

    catalog = extra_cat_catalog(tmp_path)
    spec = _spec(["cat_test", "sheep_white"], [0.0, 0.3])
    with EmbeddedRenderer(catalog, subjects_style="asset", asset_cache=str(asset_cache)) as r:
        assert r.bodies.primitive_body("cat_test") is not None and r.bodies.primitive_body("sheep_white") is None
        frame = next(iter(r.render(spec)))
    assert set(np.unique(frame.instances)) == {0, 1, 2}


def test_same_clip_same_bytes(asset_renderer, catalog, asset_cache):
    from hmworld.render.embedded import EmbeddedRenderer

    spec = _spec(["woman_green_dress", "giraffe_young"], [0.1, 0.4, 0.7])
    first = [(f.rgb.tobytes(), f.instances.tobytes(), f.depth.tobytes()) for f in asset_renderer.render(spec)]
    with EmbeddedRenderer(catalog, read_depth=True, subjects_style="asset", asset_cache=str(asset_cache)) as fresh:
        second = [(f.rgb.tobytes(), f.instances.tobytes(), f.depth.tobytes()) for f in fresh.render(spec)]
    assert first == second


def test_missing_cache_names_the_install_command(catalog, tmp_path):
    from hmworld.render.embedded import EmbeddedRenderer

    with pytest.raises(zeroad.AssetsMissing, match="hmworld assets"):
        EmbeddedRenderer(catalog, subjects_style="asset", asset_cache=str(tmp_path / "nowhere"))


def test_unknown_style_is_a_config_error(catalog):
    from hmworld.errors import ConfigError
    from hmworld.render.embedded import EmbeddedRenderer

    with pytest.raises(ConfigError, match="subjects_style"):
        EmbeddedRenderer(catalog, subjects_style="fancy")


def test_render_cli_without_cache_exits_2_with_the_command(tmp_path):
    env_cache = str(tmp_path / "empty")
    proc = subprocess.run(
        [*HMWORLD, "render", f"out={tmp_path / 'split'}", "num_clips=1", *SMALL, "progress=false"],
        capture_output=True, text=True, env={**os.environ, "HMWORLD_ASSET_CACHE": env_cache}, timeout=300)
    assert proc.returncode == 2, proc.stderr
    assert "hmworld assets" in proc.stderr and "Traceback" not in proc.stderr


def test_manifest_is_json_with_sizes(asset_cache):
    m = json.loads((zeroad.asset_cache_dir(asset_cache) / zeroad.MANIFEST).read_text())
    assert all(e["size"] > 0 and len(e["sha256"]) == 64 for e in m["files"].values())


# ------------------------------------------------------------------- the asset body model (issue 12, part 1)
def test_asset_footprint_is_the_meshes_reach(catalog, asset_cache, tmp_path):
    """The test pillar (2 units tall, +-0.5 along the model's z, our heading; +-0.25 across) walks by bending
    its upper unit up to 90 degrees about the across axis at mid-cycle: its top ring's far edge then reaches
    max over the angle of sin + 0.5 cos = sqrt(1.25) units along the heading (at about 63 degrees; the
    footprint samples 16 phases, so it may fall short of that by under 1%). Across stays 0.25. Scaled so the
    standing model (2 units; a horse has no head mesh) has the subject's height."""
    from hmworld.body import PrimitiveBodies, body_model

    bodies = body_model(catalog, "asset", str(asset_cache))
    subject = catalog.subjects["horse_bay"]
    along, across = bodies.footprint_half_axes(subject)
    s = subject.height / 2.0
    assert 0.99 * np.sqrt(1.25) * s <= along <= np.sqrt(1.25) * s and across == pytest.approx(0.25 * s, rel=1e-9)
    assert (along, across) != pytest.approx(PrimitiveBodies(catalog).footprint_half_axes(subject))
    cat = extra_cat_catalog(tmp_path).subjects["cat_test"]  # no asset: the primitive body's footprint
    assert bodies.footprint_half_axes(cat) == PrimitiveBodies(catalog).footprint_half_axes(cat)


def test_full_boxes_follow_the_skinned_mesh(asset_renderer, catalog):
    """subjects.json's full box (annotations.subject_boxes) bounds the pixels the renderer draws for an
    asset subject, tightly; the primitive body's box would miss by many pixels."""
    from hmworld.annotations import mask_boxes, subject_boxes
    from hmworld.body import PrimitiveBodies

    spec = _spec(["man_red_hoodie", "horse_bay"], [0.0, 0.25, 0.5], heading=0.3)
    ids = np.stack([f.instances for f in asset_renderer.render(spec)])
    full = subject_boxes(spec, catalog, asset_renderer.bodies)
    primitive = subject_boxes(spec, catalog, PrimitiveBodies(catalog))
    for j, t in enumerate(spec.subjects):
        seen = mask_boxes(ids, t.instance_id)
        assert not np.isnan(seen).any()
        assert np.all(seen[:, :2] >= np.floor(full[j][:, :2])) and np.all(seen[:, 2:] <= np.ceil(full[j][:, 2:]))
        np.testing.assert_allclose(seen, full[j], atol=1.0)
        assert np.abs(primitive[j] - seen).max() > 4.0


def test_asset_split_records_licences_and_mesh_boxes(asset_cache, tmp_path):
    """A split rendered with the default subjects_style=asset lists the art's package and licence in split.json
    (a primitive split lists none), and every subject.json box contains its visible box."""
    out = tmp_path / "split"
    env = {**os.environ, "HMWORLD_ASSET_CACHE": str(asset_cache)}
    proc = subprocess.run([*HMWORLD, "render", f"out={out}", "num_clips=1", *SMALL, "progress=false"],
                          capture_output=True, text=True, env=env, timeout=300)
    assert proc.returncode == 0, proc.stderr
    info = json.loads((out / "split.json").read_text())
    (package,) = info["config"]["assets"]["packages"]
    assert package["package"] == "0ad-data" and package["licence"] == "CC-BY-SA-3.0"
    assert "Wildfire Games" in package["attribution"] and package["files"] == len(zeroad.wanted_files())
    checked = 0
    for path in out.glob("clips/*/subjects.json"):
        for s in json.loads(path.read_text())["subjects"]:
            for fr in s["frames"]:
                if fr["visible_box"] is not None:
                    box, vis = np.array(fr["box"]), np.array(fr["visible_box"])
                    assert np.all(vis[:2] >= np.floor(box[:2])) and np.all(vis[2:] <= np.ceil(box[2:])), fr
                    checked += 1
    assert checked > 10
    primitive = tmp_path / "primitive"
    run_cli("render", f"out={primitive}", "num_clips=1", *SMALL, "progress=false", *PRIMITIVE)
    assert "assets" not in json.loads((primitive / "split.json").read_text())["config"]


def test_game_quality_keeps_the_skinned_masks_exact(asset_renderer, catalog, asset_cache):
    """renderer.quality=game draws the skinned subjects again into the multisampled colour pass; ids and
    depth still come from the single-sample pass, so they equal the basic path's bit for bit."""
    from hmworld.render.embedded import EmbeddedRenderer

    spec = _spec(["man_red_hoodie", "horse_bay"], [0.0, 0.25, 0.5], heading=0.3)
    basic = list(asset_renderer.render(spec))
    with EmbeddedRenderer(catalog, read_depth=True, subjects_style="asset", asset_cache=str(asset_cache),
                          quality="game") as r:
        game = list(r.render(spec))
    for b, g in zip(basic, game):
        np.testing.assert_array_equal(g.instances, b.instances)
        np.testing.assert_array_equal(g.depth, b.depth)
        assert np.any(g.rgb != b.rgb)


def test_pan_timing_and_prefilter_take_the_body_models_footprint(catalog, asset_cache):
    """The compositor times a tracking shot's pan by the main subject's footprint (ctx.footprint) and the
    pre-filter reads the same: with the asset model (as `hmworld render` sets it for subjects_style=asset) the
    camera paths change where the meshes' footprints differ from the primitive bodies', and the pre-filter's
    half-axes are the meshes'."""
    from hmworld.body import body_model
    from hmworld.compositor import CompositionContext, Rejection, compose
    from hmworld.events import PrefilterBatch
    from tests.testlib import render_config

    cfg = render_config("out=x", "video.width=832", "video.height=480", "camera_trajectories=[track_lead]")
    primitive, asset = CompositionContext.from_config(catalog, cfg), CompositionContext.from_config(catalog, cfg)
    bodies = body_model(catalog, "asset", str(asset_cache))
    asset.footprint = bodies.footprint_half_axes
    pairs = [(compose(primitive, slot, 0), compose(asset, slot, 0)) for slot in range(6)]
    pairs = [(p, a) for p, a in pairs if not isinstance(p, Rejection) and not isinstance(a, Rejection)]
    assert pairs and any(not np.array_equal(p.camera_c2w, a.camera_c2w) for p, a in pairs)
    spec = pairs[0][1]
    batch = PrefilterBatch.from_specs([spec], catalog.scenes, catalog.subjects, bodies.footprint_half_axes)
    for j, t in enumerate(spec.subjects):
        np.testing.assert_allclose(batch.half_axes[0, j], bodies.footprint_half_axes(catalog.subjects[t.name]),
                                   rtol=1e-6)
