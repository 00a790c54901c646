"""Dataset (camera vectors, context/target split, frame checks) and the latent/text cache (skip, resume, keys)."""
from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from hmworld.errors import SplitError
from hmworld.model.cache import LatentCache
from hmworld.model.camera import relative_camera_vectors
from hmworld.model.dataset import CachedLatentDataset, SplitClipDataset, collate, geometry_for
from hmworld.split import Split
from hmworld.split.format import ClipRecord
from hmworld.split.writer import write_manifest


def test_dataset_splits_halves_and_camera_equals_helper(tiny_split, model_cfg):
    ds = SplitClipDataset(tiny_split, model_cfg)
    split = Split(tiny_split)
    assert len(ds) == len(split) == 2
    for i, clip in enumerate(split):
        s = ds[i]
        assert s.clip_id == clip.clip_id and s.caption == clip.caption
        assert s.context.shape == (3, 21, 64, 64) and s.target.shape == (3, 21, 64, 64)
        # same size: no resampling, so the halves are exactly the decoded frames scaled to [-1, 1]
        ctx = ((s.context + 1) * 127.5).round().to(torch.uint8).permute(1, 2, 3, 0).numpy()
        tgt = ((s.target + 1) * 127.5).round().to(torch.uint8).permute(1, 2, 3, 0).numpy()
        np.testing.assert_array_equal(ctx, clip.context())
        np.testing.assert_array_equal(tgt, clip.target())
        c2w = clip.camera.c2w
        want_ctx, want_tgt = relative_camera_vectors(c2w[:21], c2w[21:])
        np.testing.assert_allclose(s.camera.numpy(), np.concatenate([want_ctx, want_tgt]), atol=1e-6)
        assert s.num_context_latents == 6 and s.camera.shape == (12, 12)
        # the first target latent frame is the reference pose: identity rotation, zero translation
        np.testing.assert_allclose(s.camera[6].numpy(), np.eye(4)[:3].reshape(12), atol=1e-6)


def test_dataset_resizes_and_crops_to_the_model_size(tiny_split, model_cfg):
    cfg = {**model_cfg, "data": {"height": 32, "width": 48}}
    s = SplitClipDataset(tiny_split, cfg)[0]
    assert s.context.shape == (3, 21, 32, 48) and s.context.min() >= -1 and s.context.max() <= 1


def _with_manifest(split_dir, tmp_path, **changes):
    """A copy of the split's manifest with some fields changed (in memory, through the reader)."""
    split = Split(split_dir)
    for k, v in changes.items():
        split.manifest.loc[split.manifest.index[1], k] = v
    return split


@pytest.mark.parametrize("field,value,needle", [
    ("context_frames", 20, "context_frames=20"),             # not 4k+1
    ("target_frames", 17, "target_frames=17 gives 5 latent frames"),  # odd latent count with memory stride 2
])
def test_frame_constraints_name_split_clip_and_field(tiny_split, model_cfg, tmp_path, field, value, needle):
    split = _with_manifest(tiny_split, tmp_path, **{field: value})
    with pytest.raises(SplitError) as e:
        geometry_for(split, model_cfg)
    msg = str(e.value)
    assert needle in msg and split.clip_ids[1] in msg and str(tiny_split) in msg and "manifest.parquet" in msg


def test_odd_latent_count_is_fine_without_memory_and_sizes_must_be_multiples_of_16(tiny_split, model_cfg, tmp_path):
    split = _with_manifest(tiny_split, tmp_path, context_frames=17)
    full = {**model_cfg, "transformer": {**model_cfg["transformer"],
                                         "config": {**model_cfg["transformer"]["config"], "retrieval_mode": "full"}}}
    # 17 + 21 frames: only the frame counts matter here; the size check comes next
    with pytest.raises(SplitError, match="differs from the other clips"):
        geometry_for(split, full)
    with pytest.raises(SplitError, match=r"model.data.width=72 is not a multiple of 16"):
        geometry_for(Split(tiny_split), {**model_cfg, "data": {"width": 72}})


def test_cache_builds_skips_and_loads(split_copy, model_cfg):
    lc = LatentCache(split_copy, model_cfg)
    assert lc.missing() == []  # built by the session fixture
    again = lc.build()
    assert (again.latents_encoded, again.text_encoded) == (0, 0)
    assert (again.latents_skipped, again.text_skipped) == (2, 2)
    ds = CachedLatentDataset(split_copy, model_cfg)
    item = ds[0]
    assert item["latents"].shape == (16, 12, 8, 8) and item["latents"].dtype == torch.float32
    assert item["text"].dtype == torch.bfloat16 and item["text"].shape[1] == 32  # UMT5 in bf16, real tokens only
    assert item["num_context"] == 6
    np.testing.assert_allclose(item["camera"].numpy(), SplitClipDataset(split_copy, model_cfg)[0].camera.numpy())
    batch = collate([ds[0], ds[1]], max_length=16)
    assert batch["text"].shape == (2, 16, 32) and batch["latents"].shape == (2, 16, 12, 8, 8)
    n = item["text"].shape[0]
    assert torch.all(batch["text"][0, n:] == 0)  # zero padding beyond the real tokens, as Wan pads


def test_cache_latents_are_the_vae_encoding_of_each_half(split_copy, model_cfg):
    from hmworld.model.components import build_vae

    lc = LatentCache(split_copy, model_cfg)
    clip = Split(split_copy)[0]
    vae = build_vae(model_cfg)
    s = SplitClipDataset(split_copy, model_cfg)[0]
    want = torch.cat([vae.encode(s.context[None])[0], vae.encode(s.target[None])[0]], dim=1)
    torch.testing.assert_close(lc.load_latents(clip), want, atol=1e-5, rtol=1e-5)


def test_recaption_invalidates_exactly_the_changed_captions_and_resumes(split_copy, model_cfg):
    lc = LatentCache(split_copy, model_cfg)
    split = Split(split_copy)
    clips = list(split)
    old_text = lc.text_path(clips[0])
    # re-caption clip 0 (as `hmworld caption` would: clip.json and the manifest)
    recs = []
    for c in clips:
        rec = ClipRecord.from_json(json.loads((split_copy / "clips" / c.clip_id / "clip.json").read_text()))
        if c.clip_id == clips[0].clip_id:
            rec.caption = "a completely different caption about a zebra"
        recs.append(rec)
    write_manifest(split_copy, recs)
    lc2 = LatentCache(split_copy, model_cfg)
    assert lc2.missing() == [clips[0].clip_id]
    # a run killed mid-write leaves a hidden temporary; the next run removes it
    tmp = lc2.clip_dir(clips[1]) / ".latents-x.safetensors.abcd1234.tmp"
    tmp.write_bytes(b"partial")
    # and clip 1's latents were never written (killed before it)
    lc2.latent_path(Split(split_copy)[1]).unlink()
    r = lc2.build()
    assert (r.text_encoded, r.latents_encoded) == (1, 1) and r.encoded_ids == [clips[1].clip_id]
    assert r.stale_removed == 1 and not old_text.exists() and not tmp.exists()
    assert lc2.missing() == []
    texts = sorted(p.name for p in lc2.clip_dir(clips[0]).glob("text-*"))
    assert len(texts) == 1


def test_missing_cache_is_named(tiny_split, model_cfg, tmp_path):
    with pytest.raises(SplitError, match="hmworld cache split="):
        CachedLatentDataset(tiny_split, model_cfg, cache_dir=tmp_path / "empty")
