"""DSC on synthetic exit-entry clips with an injected pixel-based detector and the tiny CLIP embedder."""
import copy

import numpy as np
import pytest

from hmworld.metrics import ClipCropEmbedder, DSCConfig, MetricInputError, YoloDetector, dsc, load_yolo
from hmworld.metrics.detection import crop, iou
from hmworld.metrics.dsc import plan
from tests.metrics.testlib import ChangeDetector, TINY_YOLO, recolour, synthetic_clip, vanish


@pytest.fixture(scope="module")
def clip():
    return synthetic_clip(c=21, t=21, seed=3)


@pytest.fixture(scope="module")
def embedder(tiny_models):
    return ClipCropEmbedder(tiny_models.get_clip(), device="cpu")


def _halves(clip, pred_video=None):
    c = clip["context_frames"]
    v = clip["video"] if pred_video is None else pred_video
    return v[c:], clip["video"][c:], clip["video"][:c]


def _run(clip, pred_video, embedder, mode="detect", detector=None):
    pred, target, context = _halves(clip, pred_video)
    detector = detector or ChangeDetector(clip["background"])
    return dsc(pred, target, context, clip["events"], clip["subjects"], detector=detector, embedder=embedder,
               config=DSCConfig(mode=mode))


def test_synthetic_clip_follows_the_schema(clip):
    ev = clip["events"]["subjects"][0]
    (event,) = ev["events"]
    c = clip["context_frames"]
    assert event["exit_frame"] < c <= event["entry_frame"]
    frames = clip["subjects"]["subjects"][0]["frames"]
    assert frames[event["entry_frame"]]["visible_box"] is not None
    assert frames[event["exit_frame"]]["visible_box"] is None


def test_plan_scores_visible_frames_from_reentry(clip):
    (p,) = plan(clip["events"], clip["subjects"], "detect", max_context_frames=4)
    entry = clip["events"]["subjects"][0]["events"][0]["entry_frame"]
    c = clip["context_frames"]
    assert p.entry == entry and p.target_frames == list(range(entry, 2 * c))
    assert len(p.context_frames) == 4 and all(t < c for t in p.context_frames)


def test_identical_beats_recoloured_beats_vanished(clip, embedder):
    same = _run(clip, clip["video"], embedder)
    recol = _run(clip, recolour(clip["video"], clip["masks"]), embedder)
    gone = _run(clip, vanish(clip["video"], clip["masks"], clip["background"]), embedder)
    assert same.terms == recol.terms == gone.terms > 0
    assert same.dsc_gt == pytest.approx(1.0, abs=1e-5) and same.miss_rate == 0.0
    assert 0.0 < recol.dsc_gt < same.dsc_gt - 1e-4 and recol.miss_rate == 0.0
    assert gone.dsc_gt == 0.0 and gone.dsc_ctx == 0.0 and gone.miss_rate == 1.0 and gone.misses == gone.terms
    assert same.dsc_ctx > recol.dsc_ctx > gone.dsc_ctx
    assert same.mode == "detect" and same.subjects[0].context_crops > 0


def test_partial_hiding_scores_zero_on_hidden_frames(clip, embedder):
    c = clip["context_frames"]
    pred = clip["video"].copy()
    gone = vanish(clip["video"], clip["masks"], clip["background"])
    pred[-5:] = gone[-5:]
    r = _run(clip, pred, embedder)
    assert r.misses == 5 and r.miss_rate == pytest.approx(5 / r.terms)
    assert r.dsc_gt == pytest.approx((r.terms - 5) / r.terms, abs=1e-5)
    assert pred.shape[0] - c == 21


def test_gt_box_variants(clip, embedder):
    gone = vanish(clip["video"], clip["masks"], clip["background"])
    # Ground-truth boxes on both sides: no detector at all; a vanished subject is still a miss (its crop is
    # closer to the background beside the box than to the ground-truth crop).
    r_both = _run(clip, gone, embedder, mode="gt_boxes", detector=_Forbidden())
    same_both = _run(clip, clip["video"], embedder, mode="gt_boxes", detector=_Forbidden())
    assert same_both.misses == 0 and same_both.dsc_gt == pytest.approx(1.0, abs=1e-5)
    assert r_both.misses == r_both.absent == r_both.terms > 0 and r_both.dsc_gt == 0.0
    assert r_both.dsc_gt < same_both.dsc_gt
    # Ground-truth boxes on the ground-truth side only: detector runs on the prediction alone.
    det = ChangeDetector(clip["background"])
    r_t = _run(clip, clip["video"], embedder, mode="gt_target_boxes", detector=det)
    assert det.frames_seen == r_t.terms          # prediction frames only
    assert r_t.miss_rate == 0.0 and r_t.dsc_gt > 0.99


def test_detector_only_variant_needs_no_boxes(clip, embedder):
    subjects = copy.deepcopy(clip["subjects"])
    events = copy.deepcopy(clip["events"])
    for s in subjects["subjects"]:
        s["frames"] = []                       # imported clips: no per-frame boxes
    events["min_visible_pixels"] = None
    events["subjects"][0]["visible_intervals"] = None
    pred, target, context = _halves(clip)
    det = ChangeDetector(clip["background"])
    with pytest.raises(MetricInputError, match="detect_top"):
        dsc(pred, target, context, events, subjects, detector=det, embedder=embedder)
    r = dsc(pred, target, context, events, subjects, detector=det, embedder=embedder, config=DSCConfig(mode="auto"))
    assert r.mode == "detect_top"
    entry = events["subjects"][0]["events"][0]["entry_frame"]
    assert r.terms == 2 * clip["context_frames"] - entry      # every frame from the entry on
    assert r.dsc_gt == pytest.approx(1.0, abs=1e-5) and r.miss_rate == 0.0


def test_detector_runs_only_on_needed_frames(clip, embedder):
    det = ChangeDetector(clip["background"])
    r = _run(clip, clip["video"], embedder, detector=det)
    (s,) = r.subjects
    # prediction + ground truth on the re-entry frames, plus the sampled context frames: nothing else.
    assert det.frames_seen == 2 * r.terms + s.context_crops


def test_no_reentry_gives_none_not_nan(clip, embedder):
    events = copy.deepcopy(clip["events"])
    events["subjects"][0]["events"] = []
    pred, target, context = _halves(clip)
    r = dsc(pred, target, context, events, clip["subjects"], detector=_Forbidden(), embedder=embedder)
    assert r.terms == 0 and r.dsc_gt is None and r.dsc_ctx is None and r.miss_rate is None


def test_frame_count_errors(clip, embedder):
    pred, target, context = _halves(clip)
    with pytest.raises(MetricInputError, match="context frames"):
        dsc(pred, target, context[:-1], clip["events"], clip["subjects"], detector=_Forbidden(), embedder=embedder)
    with pytest.raises(MetricInputError, match="frame count"):
        dsc(pred[:-1], target, context, clip["events"], clip["subjects"], detector=_Forbidden(), embedder=embedder)
    with pytest.raises(ValueError, match="not one of"):
        DSCConfig(mode="nonsense")


def test_crop_and_iou_helpers():
    frame = np.arange(10 * 12 * 3, dtype=np.uint8).reshape(10, 12, 3)
    assert crop(frame, (1.2, 2.7, 4.1, 5.0)).shape == (3, 4, 3)      # rounded outwards: x 1..5, y 2..5
    assert crop(frame, (-5, -5, 3, 3)).shape == (3, 3, 3)            # clipped to the frame
    assert crop(frame, (11.5, 0, 30, 10)) is None                    # a 1-pixel sliver is no crop
    assert iou((0, 0, 2, 2), (1, 1, 3, 3)) == pytest.approx(1 / 7)


def test_yolo_detector_through_real_ultralytics(weights_dir):
    """YOLO11 (random yolo11n weights) loaded through the same resolution, run on RGB frames."""
    model = load_yolo(weights_dir, name=TINY_YOLO)
    det = YoloDetector(model, device="cpu", conf=1e-4, imgsz=160)
    frames = synthetic_clip(c=2, t=2)["video"]
    out = det.detect(frames, classes=[0, 14])
    assert len(out) == 4
    for dets in out:
        for d in dets:
            assert d.cls in (0, 14) and 0 <= d.box[0] <= d.box[2] <= 160 and 0 <= d.box[1] <= d.box[3] <= 96


class _Forbidden:
    """Detector for modes that must not run one."""

    def detect(self, frames, classes):
        raise AssertionError("the detector must not run in this mode")


class ColourStats:
    """A deterministic crop embedder: per-channel mean and spread of a crop (unit vector); what a subject
    looks like, independent of where it stands."""

    def __init__(self):
        self.shapes = []

    def embed(self, crops):
        out = []
        for c in crops:
            self.shapes.append(c.shape)
            f = c.reshape(-1, 3).astype(np.float64)
            v = np.concatenate([f.mean(0), f.std(0) * 3])
            out.append(v / np.linalg.norm(v))
        return np.stack(out)


def _shift(clip, dx: int):
    """The subject drawn dx pixels to the side of where it is (target half), on the empty background."""
    c = clip["context_frames"]
    out = clip["video"].copy()
    for t in range(c, out.shape[0]):
        m = clip["masks"][t]
        out[t][m] = clip["background"][t][m]
        ys, xs = np.nonzero(m)
        keep = (xs - dx >= 0) & (xs - dx < out.shape[2])
        out[t][ys[keep], xs[keep] - dx] = clip["video"][t][ys[keep], xs[keep]]
    return out


@pytest.mark.parametrize("mode", ["gt_boxes", "detect"])
def test_presence_counts_in_every_mode(clip, mode):
    emb = ColourStats()
    gone = vanish(clip["video"], clip["masks"], clip["background"])
    same = _run(clip, clip["video"], emb, mode=mode)
    vanished = _run(clip, gone, emb, mode=mode)
    assert same.miss_rate == 0.0 and same.dsc_gt == pytest.approx(1.0)
    assert vanished.miss_rate == 1.0 and vanished.dsc_gt == 0.0 and vanished.dsc_ctx == 0.0


def test_a_shifted_subject_is_not_a_vanished_one(clip):
    emb = ColourStats()
    shifted = _shift(clip, 24)                  # more than the subject's width: IoU with its box is 0
    gone = vanish(clip["video"], clip["masks"], clip["background"])
    r_shift = _run(clip, shifted, emb, mode="detect")
    r_gone = _run(clip, gone, emb, mode="detect")
    assert r_shift.displaced > 0 and r_shift.miss_rate < 0.5 and r_shift.dsc_gt > 0.9
    assert r_gone.miss_rate == 1.0 and r_gone.dsc_gt == 0.0
    # far away (beyond the radius) it is not the subject's detection any more
    r_off = dsc(*_halves(clip, shifted), clip["events"], clip["subjects"], detector=ChangeDetector(clip["background"]),
                embedder=emb, config=DSCConfig(mode="detect", shift_radius=0.0))
    assert r_off.displaced == 0 and r_off.miss_rate > r_shift.miss_rate


def test_tall_crops_are_padded_to_a_square_not_cut():
    from hmworld.metrics.dsc import pad_square
    from hmworld.metrics.conventions import DSC_PAD_FILL

    rng = np.random.default_rng(0)
    tall = rng.integers(0, 256, (36, 20, 3), dtype=np.uint8)
    sq = pad_square(tall)
    assert sq.shape == (36, 36, 3)
    assert np.array_equal(sq[:, 8:28], tall)                         # every pixel kept, centred
    assert (sq[:, :8] == DSC_PAD_FILL).all() and (sq[:, 28:] == DSC_PAD_FILL).all()
    wide = rng.integers(0, 256, (5, 12, 3), dtype=np.uint8)
    assert np.array_equal(pad_square(wide)[3:8], wide)


def test_the_embedder_sees_square_crops(clip):
    emb = ColourStats()
    _run(clip, clip["video"], emb, mode="gt_boxes")
    assert emb.shapes and all(h == w for h, w, _ in emb.shapes)
