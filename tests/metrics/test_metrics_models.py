"""Learned metrics: tiny random models round-trip through the production loaders; LPIPS and the VBench
consistency metrics behave analytically; parity with vbench's own inner functions."""
import numpy as np
import pytest
import torch

from hmworld.metrics import (MetricInputError, background_consistency, load_clip, load_dino, load_lpips, lpips,
                             subject_consistency)
from hmworld.metrics.consistency import consistency_terms, dino_preprocess, clip_preprocess
from tests.metrics.testlib import TINY_CLIP, TINY_DINO, synthetic_clip, write_mp4


def _same_params(a, b):
    sa, sb = a.state_dict(), b.state_dict()
    return sa.keys() == sb.keys() and all(torch.equal(sa[k].cpu(), sb[k].cpu()) for k in sa)


def test_loaders_round_trip_saved_tiny_models(weights_dir, tiny_models):
    import open_clip
    import timm
    from safetensors.torch import load_file

    dino = load_dino(weights_dir, "cpu", arch=TINY_DINO)
    assert isinstance(dino.vit, timm.models.vision_transformer.VisionTransformer)
    saved = load_file(str(weights_dir / "vit_base_patch16_224.dino.safetensors"))
    assert all(torch.equal(saved[k], v) for k, v in dino.vit.state_dict().items())
    # Any frame size works, as with DINO's own model (remainder of the 16-pixel grid dropped).
    x = torch.rand(1, 3, 224, 373)
    with torch.no_grad():
        assert torch.equal(dino(x), dino.vit(x[..., :368]))
    clip = load_clip(weights_dir, "cpu", arch=TINY_CLIP)
    assert isinstance(clip, open_clip.CLIP)
    saved = load_file(str(weights_dir / "ViT-B-32-quickgelu.openai.safetensors"))
    assert all(torch.equal(saved[k], v) for k, v in clip.state_dict().items())
    # QuickGELU is what the OpenAI weights need: the loader must build that variant.
    assert type(clip.visual.transformer.resblocks[0].mlp.gelu).__name__ == "QuickGELU"
    lp = load_lpips(weights_dir, "cpu")
    trunk = torch.load(weights_dir / "alexnet-owt-7be5be79.pth", weights_only=True)
    assert torch.equal(getattr(lp.net.slice1, "0").weight, trunk["features.0.weight"])
    assert torch.equal(getattr(lp.net.slice5, "10").bias, trunk["features.10.bias"])
    assert lp.version == "0.1" and lp.pnet_type == "alex"


def test_lpips_zero_on_identical_and_uses_minus_one_to_one(tiny_models):
    clip = synthetic_clip(c=2, t=3)
    v = clip["video"][2:]
    other = np.ascontiguousarray(v[:, ::-1])
    model = tiny_models.get_lpips()
    assert lpips(v, v, model=model).value == pytest.approx(0.0, abs=1e-7)
    r = lpips(other, v, model=model)
    assert r.value > 1e-4 and r.per_frame.shape == (3,)
    # Reference: the lpips package's own [0, 1] -> [-1, 1] switch (normalize=True) on the same frames.
    x = torch.from_numpy(other.copy()).permute(0, 3, 1, 2).float() / 255
    y = torch.from_numpy(v.copy()).permute(0, 3, 1, 2).float() / 255
    with torch.no_grad():
        ref = model(x, y, normalize=True).flatten().numpy()
        wrong_range = model(x, y).flatten().numpy()
    np.testing.assert_allclose(r.per_frame, ref, rtol=1e-5, atol=1e-7)
    assert not np.allclose(r.per_frame, wrong_range, rtol=1e-3)


def test_consistency_formula_clips_negative_cosines():
    f = np.array([[1.0, 0.0], [0.0, 1.0], [-1.0, 0.1], [1.0, 0.0]])
    terms = consistency_terms(f)
    # frame1: prev cos 0, first cos 0 -> 0; frame2: prev cos ~0.0995, first cos <0 -> clipped
    c2 = 0.1 / np.hypot(1, 0.1)
    np.testing.assert_allclose(terms, [0.0, c2 / 2, (0.0 + 1.0) / 2], atol=1e-12)


def test_static_video_has_consistency_one(tiny_models):
    v = np.repeat(synthetic_clip(c=1, t=1)["video"][:1], 4, axis=0)
    s = subject_consistency(v, model=tiny_models.get_dino())
    b = background_consistency(v, model=tiny_models.get_clip())
    for r in (s, b):
        assert r.value == pytest.approx(1.0, abs=1e-6) and r.count == 3 and r.total == pytest.approx(3.0, abs=1e-5)
    moving = synthetic_clip(c=6, t=6)["video"]
    assert subject_consistency(moving, model=tiny_models.get_dino()).value < 1.0 - 1e-6
    with pytest.raises(MetricInputError, match="at least 2"):
        subject_consistency(v[:1], model=tiny_models.get_dino())


def test_vbench_preprocessing_shapes():
    v = np.zeros((2, 96, 160, 3), np.uint8)
    # short side 96 -> 224, long side int(224 * 160 / 96) = 373, cropped to multiples of 16 -> 368
    assert tuple(dino_preprocess(v).shape) == (2, 3, 224, 368)
    assert tuple(clip_preprocess(v).shape) == (2, 3, 224, 224)


@pytest.fixture(scope="module")
def mp4_videos(tmp_path_factory):
    d = tmp_path_factory.mktemp("vbench_videos")
    paths = []
    for seed, (h, w) in enumerate([(96, 160), (112, 80)]):
        clip = synthetic_clip(c=5, t=6, h=h, w=w, seed=seed)
        p = d / f"clip{seed}.mp4"
        write_mp4(p, clip["video"])
        paths.append(p)
    return paths


def test_vbench_parity_subject_and_background(tiny_models, mp4_videos):
    """Our functions vs vbench's inner functions, same videos, same (random) models, to 1e-5."""
    from vbench.background_consistency import background_consistency as vb_background
    from vbench.subject_consistency import subject_consistency as vb_subject
    from vbench.utils import load_video

    from hmworld.metrics import decode_video

    dino, clip = tiny_models.get_dino(), tiny_models.get_clip()
    paths = [str(p) for p in mp4_videos]
    with torch.no_grad():
        vb_s, vb_s_videos = vb_subject(dino, paths, "cpu", read_frame=False)
        vb_b, vb_b_videos = vb_background(clip, None, paths, "cpu", read_frame=False)
    ours_s, ours_b = [], []
    for p in paths:
        frames = decode_video(p)
        # Both decoders see the same H.264 stream; our comparison is only meaningful if the pixels agree.
        vb_frames = load_video(p).permute(0, 2, 3, 1).numpy().astype(np.uint8)
        np.testing.assert_array_equal(frames, vb_frames)
        ours_s.append(subject_consistency(frames, model=dino))
        ours_b.append(background_consistency(frames, model=clip))
    for ours, vb_split, vb_videos in ((ours_s, vb_s, vb_s_videos), (ours_b, vb_b, vb_b_videos)):
        for r, v in zip(ours, vb_videos):
            assert abs(r.value - v["video_results"]) < 1e-5
        split = sum(r.total for r in ours) / sum(r.count for r in ours)
        assert abs(split - vb_split) < 1e-5
        assert all(r.value < 0.999999 for r in ours)   # moving subject: not a trivially constant video
