"""The per-clip entry: chosen metrics, conventions and their version, one decode per video, aggregation."""
import numpy as np
import pytest

import hmworld.metrics as M
from hmworld.metrics import (ALL_METRICS, CONVENTION_VERSION, ClipCropEmbedder, MetricModels, aggregate,
                             conventions_digest, score_clip, score_clip_files)
from tests.metrics.testlib import ChangeDetector, recolour, synthetic_clip, write_mp4

# Bump CONVENTION_VERSION whenever conventions.CONVENTIONS changes, then record the new digest here.
PINNED = {"1": "954d3c15a8748746", "2": "e8286feeadb054e6", "3": "9b333948f22b79f9"}


def test_convention_text_is_pinned_to_its_version():
    assert PINNED.get(CONVENTION_VERSION) == conventions_digest(), (
        "metric conventions changed: bump CONVENTION_VERSION and pin the new digest")


@pytest.fixture(scope="module")
def clip():
    return synthetic_clip(c=21, t=21, seed=5)


@pytest.fixture(scope="module")
def models(tiny_models, clip):
    return MetricModels(device="cpu", lpips=tiny_models.get_lpips(), dino=tiny_models.get_dino(),
                        clip=tiny_models.get_clip(), detector=ChangeDetector(clip["background"]),
                        embedder=ClipCropEmbedder(tiny_models.get_clip(), device="cpu"))


def test_score_clip_all_metrics(clip, models):
    c = clip["context_frames"]
    v = clip["video"]
    s = score_clip(v[c:], v[c:], v[:c], events=clip["events"], subjects=clip["subjects"], models=models,
                   clip_id="c0")
    assert s.convention_version == CONVENTION_VERSION and s.clip_id == "c0"
    assert set(s.conventions) >= set(ALL_METRICS) | {"input", "scope", "aggregation"}
    assert s.values["psnr"] == M.PSNR_CAP_DB and s.details["psnr_capped_frames"] == 21
    assert s.values["ssim"] == pytest.approx(1.0) and s.values["lpips"] == pytest.approx(0.0, abs=1e-7)
    assert s.values["dsc_gt"] == pytest.approx(1.0, abs=1e-5) and s.values["dsc_miss_rate"] == 0.0
    assert 0 < s.values["subject_consistency"] < 1 and s.details["subject_consistency_count"] == 20
    assert set(s.seconds) == set(ALL_METRICS)
    only = score_clip(v[c:], v[c:], metrics=["psnr", "ssim"])
    assert set(only.values) == {"psnr", "ssim"} and "lpips" not in only.conventions
    with pytest.raises(ValueError, match="unknown metric"):
        score_clip(v[c:], v[c:], metrics=["fid"])
    with pytest.raises(M.MetricInputError, match="DSC needs"):
        score_clip(v[c:], v[c:], metrics=["dsc"], models=models)


def test_files_are_decoded_once_each(clip, models, tmp_path, monkeypatch):
    c = clip["context_frames"]
    gt, pred = tmp_path / "gt.mp4", tmp_path / "pred.mp4"
    write_mp4(gt, clip["video"])
    write_mp4(pred, recolour(clip["video"], clip["masks"]))   # includes context, as HyDRA's inference writes
    import hmworld.metrics.scorer as scorer

    calls = []
    real = scorer.decode_video
    monkeypatch.setattr(scorer, "decode_video", lambda p: calls.append(str(p)) or real(p))
    s = score_clip_files(pred, gt, context_frames=c, pred_includes_context=True, events=clip["events"],
                         subjects=clip["subjects"], models=models)
    assert sorted(calls) == sorted([str(gt), str(pred)])
    assert "decode" in s.seconds and s.details["frames"] == 21
    assert s.values["psnr"] < 40 and 0 < s.values["dsc_gt"] < 1
    with pytest.raises(M.MetricInputError, match="target frames"):
        score_clip_files(pred, gt, context_frames=c, pred_includes_context=False, metrics=["psnr"])


def test_aggregate_follows_conventions(clip, models):
    c = clip["context_frames"]
    v = clip["video"]
    a = score_clip(v[c:], v[c:], metrics=["psnr", "subject_consistency"], models=models)
    b = score_clip(v[c:c + 3], v[c:c + 3][::-1].copy(), metrics=["psnr", "subject_consistency"], models=models)
    agg = aggregate([a, b])
    assert agg["psnr"] == pytest.approx((a.values["psnr"] + b.values["psnr"]) / 2)
    # vbench's split figure is frame-weighted: a 21-frame video counts 10x a 3-frame one.
    weighted = (a.details["subject_consistency_total"] + b.details["subject_consistency_total"]) / (20 + 2)
    assert agg["subject_consistency"] == pytest.approx(weighted)
    assert agg["subject_consistency"] != pytest.approx(
        (a.values["subject_consistency"] + b.values["subject_consistency"]) / 2)
    assert "dsc_gt" not in agg and all(np.isfinite(x) for x in agg.values())
