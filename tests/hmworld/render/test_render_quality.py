"""renderer.quality=game: multisampled RGB and the analytic sky, with the basic path's exact masks and depth."""
import numpy as np
import pytest

from hmworld.clipspec import ClipSpec, SubjectTrack, VideoSpec
from hmworld.errors import ConfigError
from hmworld.geometry import Intrinsics, look_at
from hmworld.render.embedded import EmbeddedRenderer

W, H = 200, 120


def _spec(look_up: float = 0.9, frames: int = 3):
    names, xs = ["man_red_hoodie", "horse_bay", "dog_dalmatian"], [-2.5, 0.5, 3.0]
    tracks = [SubjectTrack(i + 1, n, "straight", 1.0, np.array([[x, 0.0, 0.0]] * frames),
                           np.full(frames, np.pi / 2 + 0.4), np.linspace(0, 0.5, frames))
              for i, (n, x) in enumerate(zip(names, xs))]
    cam = look_at(np.array([[0.0, -9.0, 1.6]] * frames), np.array([0.0, 0.0, look_up]))
    return ClipSpec("q", 0, 0, 0, "train", "meadow", VideoSpec(W, H, 15, 1, frames - 1), Intrinsics.from_hfov(W, H, 80),
                    "pan_away_back", "left", cam, tracks)


@pytest.fixture(scope="module")
def both(catalog):
    spec = _spec()
    out = {}
    for q in ("basic", "game"):
        with EmbeddedRenderer(catalog, read_depth=True, quality=q) as r:
            out[q] = list(r.render(spec))
    return out


def test_game_masks_and_depth_equal_the_basic_path(both):
    for b, g in zip(both["basic"], both["game"]):
        assert set(np.unique(b.instances)) == {0, 1, 2, 3}
        np.testing.assert_array_equal(g.instances, b.instances)
        np.testing.assert_array_equal(g.depth, b.depth)


def _edges(ids: np.ndarray) -> np.ndarray:
    """Pixels whose 4-neighbourhood holds another id (subject silhouettes)."""
    pad = np.pad(ids, 1, mode="edge")
    return ((pad[1:-1, :-2] != ids) | (pad[1:-1, 2:] != ids) | (pad[:-2, 1:-1] != ids) | (pad[2:, 1:-1] != ids))


def test_game_rgb_is_antialiased_along_silhouettes(both):
    """MSAA blends the colours of what a pixel's samples cover: silhouette pixels change, and take values
    between their neighbours'; inside a surface (one shading per pixel, at its centre) nearly nothing does."""
    b, g = both["basic"][0], both["game"][0]
    ids = b.instances
    edge = _edges(ids) & (b.depth > 0) & (np.roll(b.depth, 1, 0) > 0)  # not against the (differently lit) sky
    inner = ~_edges(ids) & ~_edges(np.pad(ids, 1, mode="edge")[2:, 1:-1]) & (b.depth > 0)
    changed = np.any(g.rgb != b.rgb, axis=2)
    assert edge.sum() > 200
    assert changed[edge].mean() > 0.3  # about half of them here; the basic path changes none
    assert changed[inner].mean() < 0.1


def test_game_sky_is_the_analytic_model(catalog):
    """Looking up: the sky is bluer overhead than at the horizon (Rayleigh) and brightest towards the sun
    (meadow: sun at azimuth 60 degrees, i.e. to the right of a camera looking along +y)."""
    spec = _spec(look_up=6.0, frames=1)
    with EmbeddedRenderer(catalog, read_depth=True, quality="game") as r:
        frame = next(iter(r.render(spec)))
    sky = frame.depth == 0
    rgb = frame.rgb.astype(float)
    top, low = rgb[0][sky[0]], rgb[H // 2][sky[H // 2]]
    assert len(top) > 50 and len(low) > 50
    assert (top[:, 2] / top[:, 0]).mean() > (low[:, 2] / low[:, 0]).mean() + 0.05
    left, right = rgb[5, :20][sky[5, :20]].mean(), rgb[5, -20:][sky[5, -20:]].mean()
    assert right > left + 5


def test_game_same_clip_same_bytes(both, catalog):
    with EmbeddedRenderer(catalog, read_depth=True, quality="game") as r:
        again = list(r.render(_spec()))
    assert all(a.rgb.tobytes() == b.rgb.tobytes() for a, b in zip(again, both["game"]))


def test_unknown_quality_is_a_config_error(catalog):
    with pytest.raises(ConfigError, match="renderer.quality"):
        EmbeddedRenderer(catalog, quality="ultra")


def test_game_shadows_fall_away_from_the_sun(catalog):
    """The sun's depth pass: the ground a body's upper half shades lies on the far side of the body from the
    sun (meadow: azimuth 60, elevation 45 degrees), and that ground is darker with game quality than with
    basic; the mirrored point on the sun's side is not darkened."""
    from hmworld.geometry import project, world_to_camera
    from hmworld.render.base import sun_direction

    sun = sun_direction(catalog.scenes["meadow"])
    away = -sun[:2] / np.linalg.norm(sun[:2])
    frames = 1
    pos = np.array([[0.0, 0.0, 0.0]])
    track = SubjectTrack(1, "cow_brown", "straight", 1.0, pos, np.full(frames, 0.0), np.zeros(frames))
    side = 8.0 * np.array([-away[1], away[0]])  # the camera looks across the shadow's direction
    cam = look_at(np.array([[side[0], side[1], 6.0]]), np.array([0.0, 0.0, 0.0]))
    spec = ClipSpec("s", 0, 0, 0, "train", "meadow", VideoSpec(W, H, 15, 0, 1), Intrinsics.from_hfov(W, H, 80),
                    "pan_away_back", "left", cam, [track])
    out = {}
    for q in ("basic", "game"):
        with EmbeddedRenderer(catalog, read_depth=True, quality=q) as r:
            out[q] = next(iter(r.render(spec)))
    height = 0.6 * catalog.subjects["cow_brown"].height  # a point on the body's upper half
    reach = height / np.tan(np.arcsin(sun[2]))
    for sign, darker in ((1.0, True), (-1.0, False)):
        ground = np.array([*(sign * reach * away), 0.0])
        u, v = np.round(project(world_to_camera(ground, spec.camera_c2w[0]), spec.intrinsics)).astype(int)
        assert out["game"].instances[v, u] == 0 and out["game"].depth[v, u] > 0  # the ground, not the cow
        game, basic = (out[q].rgb[v - 1:v + 2, u - 1:u + 2].astype(float).mean() for q in ("game", "basic"))
        assert (game < 0.8 * basic) == darker, (sign, game, basic)
