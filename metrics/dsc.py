"""DSC, dynamic subject consistency: does a subject that re-enters the view come back as itself?

Inputs are plain data: uint8 videos (prediction and ground truth of the target half, ground-truth context
half) and the split's events.json / subjects.json (records of hmworld.split.schema or their dicts; frame indices
count from the first context frame).
The detector runs once per video side, only on the frames DSC needs; crops are embedded in one batch.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Mapping, Optional, Sequence

import numpy as np

from hmworld.split.schema import EventsFile, SubjectEntry, SubjectEvents, SubjectsFile

from .conventions import DSC_MATCH_IOU, DSC_MAX_CONTEXT_FRAMES, DSC_PAD_FILL, DSC_SHIFT_RADIUS
from .detection import Box, CropEmbedder, Detection, Detector, crop, detector_name, iou
from .frames import MetricInputError, check_pair, check_video

# detect: detector on every side, detections matched to the ground-truth box (the paper's metric).
# gt_target_boxes: ground-truth boxes on the ground-truth and context side, detector on the prediction.
# gt_boxes: ground-truth boxes on every side, no detector (also for stylised subjects COCO models miss).
# detect_top: no boxes needed (imported clips): each side takes its top-confidence detection of the class.
# auto: detect where the clip has boxes, detect_top where it has none.
MODES = ("detect", "gt_target_boxes", "gt_boxes", "detect_top", "auto")


@dataclass(frozen=True)
class DSCConfig:
    mode: str = "detect"
    match_iou: float = DSC_MATCH_IOU
    max_context_frames: int = DSC_MAX_CONTEXT_FRAMES
    min_crop_side: int = 2
    shift_radius: float = DSC_SHIFT_RADIUS

    def __post_init__(self):
        if self.mode not in MODES:
            raise ValueError(f"DSC mode {self.mode!r} is not one of {MODES}")


@dataclass(frozen=True)
class SubjectDSC:
    instance_id: int
    name: str
    coco_class: int
    entry_frame: int
    terms: int               # re-entry frames scored for this subject
    misses: int              # of those, frames where the prediction had no matching crop
    gt_missing: int          # frames left out of DSC_GT because the ground-truth side had no crop
    context_crops: int
    dsc_gt: Optional[float]
    dsc_ctx: Optional[float]


@dataclass(frozen=True)
class DSCResult:
    """Clip-level DSC. Values are None when the clip has nothing to score (no re-entry, no crops)."""

    dsc_gt: Optional[float]
    dsc_ctx: Optional[float]
    miss_rate: Optional[float]
    terms: int
    misses: int
    gt_terms: int
    ctx_terms: int
    mode: str
    subjects: tuple[SubjectDSC, ...] = field(default=(), repr=False)
    displaced: int = 0       # prediction crops matched by the nearby fallback (the subject came back shifted)
    absent: int = 0          # gt_boxes mode: prediction crops judged background (counted in misses)
    unjudged: int = 0        # gt_boxes mode: frames whose presence could not be judged (no room for a reference)
    detector: str = "none"   # the detector used (YOLO checkpoint file name, or the injected detector's name)


@dataclass
class _Plan:
    """What one subject needs: frames (global indices) and how each side gets its box."""

    subject: SubjectEntry
    entry: int
    target_frames: list[int]
    context_frames: list[int]


def _gt_box(subject: SubjectEntry, t: int) -> Optional[Box]:
    frames = subject.frames
    if not frames or t >= len(frames):
        return None
    box = frames[t].visible_box or frames[t].box
    return tuple(float(v) for v in box) if box else None


def _has_boxes(subjects: Optional[SubjectsFile]) -> bool:
    # Rendered clips carry boxes for every visible frame (subjects never seen have none); imported clips
    # carry none at all.
    return subjects is not None and subjects.has_boxes


def _visible(subject: SubjectEntry, ev: SubjectEvents, t: int, mode: str) -> bool:
    intervals = ev.visible_intervals
    if intervals is not None:
        vis = any(s <= t < e for s, e in intervals)
    elif subject.has_boxes:
        vis = _gt_box(subject, t) is not None
    else:
        vis = True      # no masks and no boxes (imported clips): every frame from the entry on
    if vis and mode != "detect_top":
        vis = _gt_box(subject, t) is not None    # box modes need the box to match against or to cut
    return vis


def _evenly(frames: list[int], k: int) -> list[int]:
    if len(frames) <= k:
        return frames
    idx = np.unique(np.round(np.linspace(0, len(frames) - 1, k)).astype(int))
    return [frames[i] for i in idx]


def plan(events: EventsFile | Mapping[str, Any], subjects: SubjectsFile | Mapping[str, Any] | None, mode: str,
         max_context_frames: int = DSC_MAX_CONTEXT_FRAMES) -> list[_Plan]:
    """Which (subject, frame) pairs DSC scores, from events.json and subjects.json."""
    events, subjects = EventsFile.coerce(events), SubjectsFile.coerce(subjects)
    c, t_total = events.context_frames, events.target_frames
    by_id = subjects.by_id() if subjects else {}
    plans = []
    for ev in events.subjects:
        entries = [e.entry_frame for e in ev.events if c <= e.entry_frame < c + t_total]
        if not entries:
            continue
        sid = ev.instance_id
        subject = by_id.get(sid)
        if subject is None or subject.coco_class is None:
            raise MetricInputError(f"subjects.json has no entry (with coco_class) for instance_id {sid}")
        entry = min(entries)
        target = [t for t in range(entry, c + t_total) if _visible(subject, ev, t, mode)]
        context = [t for t in range(0, c) if _visible(subject, ev, t, mode)]
        plans.append(_Plan(subject, entry, target, _evenly(context, max_context_frames)))
    return plans


def _centre_distance(a: Box, b: Box) -> float:
    return float(np.hypot((a[0] + a[2] - b[0] - b[2]) / 2, (a[1] + a[3] - b[1] - b[3]) / 2))


def _match(dets: Sequence[Detection], cls: int, gt: Optional[Box], min_iou: float,
           shift_radius: float = DSC_SHIFT_RADIUS) -> tuple[Optional[Box], bool]:
    """(box, displaced): the detection of class `cls` that best overlaps the ground-truth box (IoU >= min_iou);
    else the one whose centre is nearest the ground-truth box's centre within `shift_radius` box diagonals
    (the subject came back, shifted: DSC asks whether it is itself, position is the pixel metrics' job);
    without a ground-truth box, the most confident one."""
    cands = [d for d in dets if d.cls == cls]
    if gt is None:
        return (max(cands, key=lambda d: d.score).box if cands else None), False
    best, best_iou = None, min_iou
    for d in cands:
        o = iou(d.box, gt)
        if o >= best_iou:
            best, best_iou = d.box, o
    if best is not None or not cands or shift_radius <= 0:
        return best, False
    reach = shift_radius * float(np.hypot(gt[2] - gt[0], gt[3] - gt[1]))
    near = min(cands, key=lambda d: (_centre_distance(d.box, gt), -d.score))
    if _centre_distance(near.box, gt) <= reach:
        return near.box, True
    return None, False


def pad_square(piece: np.ndarray, fill: Sequence[int] = DSC_PAD_FILL) -> np.ndarray:
    """The crop centred on a square canvas of its longer side filled with `fill` (CLIP's mean colour), so the
    embedder's resize + centre crop keeps all of it: a standing person keeps head and feet."""
    h, w = piece.shape[:2]
    side = max(h, w)
    if h == w:
        return piece
    out = np.empty((side, side, 3), dtype=np.uint8)
    out[:] = np.asarray(fill, dtype=np.uint8)
    y, x = (side - h) // 2, (side - w) // 2
    out[y:y + h, x:x + w] = piece
    return out


def _reference_box(box: Box, h: int, w: int) -> Optional[Box]:
    """A box of the same size beside `box` (left or right, else above or below: the side with more room) that
    lies wholly inside the frame and does not overlap it; None when there is no room."""
    x0, y0, x1, y1 = box
    bw, bh = x1 - x0, y1 - y0
    options = [((x0 - bw, y0, x0, y1), x0), ((x1, y0, x1 + bw, y1), w - x1),
               ((x0, y0 - bh, x1, y0), y0), ((x0, y1, x1, y1 + bh), h - y1)]
    fits = [(room, b) for b, room in options if b[0] >= 0 and b[1] >= 0 and b[2] <= w and b[3] <= h]
    if not fits:
        return None
    horizontal = [f for f in fits[:] if f[1][1] == y0 and f[1][3] == y1]
    pool = horizontal or fits
    return max(pool, key=lambda f: f[0])[1]


def _detect_side(detector: Optional[Detector], video: np.ndarray, frames: set[int], offset: int,
                 classes: Sequence[int]) -> dict[int, list[Detection]]:
    if not frames:
        return {}
    order = sorted(frames)
    dets = detector.detect(video[[t - offset for t in order]], classes)
    if len(dets) != len(order):
        raise RuntimeError(f"detector returned {len(dets)} results for {len(order)} frames")
    return dict(zip(order, dets))


def dsc(pred: np.ndarray, target: np.ndarray, context: np.ndarray, events: EventsFile | Mapping[str, Any],
        subjects: SubjectsFile | Mapping[str, Any] | None, detector: Optional[Detector] = None,
        embedder: Optional[CropEmbedder] = None, config: DSCConfig = DSCConfig(), models=None) -> DSCResult:
    """DSC_GT, DSC_ctx and the miss rate of one clip.

    pred, target: uint8 [T, H, W, 3] target halves; context: ground-truth context frames [C, H, W, 3].
    detector / embedder default to YOLO11 and CLIP from `models` (a MetricModels) or the default models.
    """
    check_pair(pred, target)
    check_video(context, "context")
    events, subjects = EventsFile.coerce(events), SubjectsFile.coerce(subjects)
    c, t_total = events.context_frames, events.target_frames
    if pred.shape[0] != t_total:
        raise MetricInputError(f"events.json says {t_total} target frames, pred has {pred.shape[0]}")
    if context.shape[0] != c:
        raise MetricInputError(f"events.json says {c} context frames, context has {context.shape[0]}")
    if context.shape[1:3] != target.shape[1:3]:
        raise MetricInputError(f"context frames are {context.shape[2]}x{context.shape[1]}, "
                               f"target frames {target.shape[2]}x{target.shape[1]}")
    mode = config.mode
    if mode == "auto":
        mode = "detect" if _has_boxes(subjects) else "detect_top"
    elif mode != "detect_top" and not _has_boxes(subjects):
        raise MetricInputError(f"DSC mode {mode!r} needs per-frame subject boxes in subjects.json; this clip has "
                               f"none (imported clips): use mode 'detect_top' or 'auto'")
    plans = plan(events, subjects, mode, config.max_context_frames)

    if models is None and (detector is None and mode != "gt_boxes" or embedder is None):
        from .models import default_models

        models = default_models()
    if detector is None and mode != "gt_boxes":
        detector = models.get_detector()
    if embedder is None:
        embedder = models.get_embedder()

    # Which sides use the detector (the rest cut the ground-truth box).
    detect_pred = mode != "gt_boxes"
    detect_gt = mode in ("detect", "detect_top")
    classes = sorted({p.subject.coco_class for p in plans})
    want_pred = {t for p in plans for t in p.target_frames} if detect_pred else set()
    want_gt = want_pred if detect_gt else set()
    want_ctx = {t for p in plans for t in p.context_frames} if detect_gt else set()
    det_pred = _detect_side(detector, pred, want_pred, c, classes)
    det_gt = _detect_side(detector, target, want_gt, c, classes)
    det_ctx = _detect_side(detector, context, want_ctx, 0, classes)

    displaced = [0]

    def box_for(dets: dict, detected: bool, subject, t: int, count: bool = False) -> Optional[Box]:
        gt = None if mode == "detect_top" else _gt_box(subject, t)
        if not detected:
            return gt
        box, shifted = _match(dets.get(t, []), subject.coco_class, gt, config.match_iou,
                              config.shift_radius)
        if shifted and count:
            displaced[0] += 1
        return box

    # Cut every crop first (padded to a square), then embed them all in one batch.
    crops: list[np.ndarray] = []

    def add(frame: np.ndarray, box: Optional[Box]) -> Optional[int]:
        if box is None:
            return None
        piece = crop(frame, box, config.min_crop_side)
        if piece is None:
            return None
        crops.append(pad_square(piece))
        return len(crops) - 1

    h, w = target.shape[1:3]
    layout = []
    for p in plans:
        s = p.subject
        ctx_idx = [add(context[t], box_for(det_ctx, detect_gt, s, t)) for t in p.context_frames]
        frames = []
        for t in p.target_frames:
            ip = add(pred[t - c], box_for(det_pred, detect_pred, s, t, count=True))
            ig = add(target[t - c], box_for(det_gt, detect_gt, s, t))
            # gt_boxes has no detector to say the subject is there: a background crop of the same size beside
            # the ground-truth box is the alternative the prediction crop is compared with.
            ib = None
            if not detect_pred and ip is not None and ig is not None:
                ref = _reference_box(_gt_box(s, t), h, w)
                ib = add(target[t - c], ref) if ref is not None else None
            frames.append((ip, ig, ib))
        layout.append(([i for i in ctx_idx if i is not None], frames))
    emb = embedder.embed(crops) if crops else np.zeros((0, 1), dtype=np.float32)
    emb = np.asarray(emb, dtype=np.float64)

    per_subject = []
    totals = dict(terms=0, misses=0, gt_terms=0, gt_sum=0.0, ctx_terms=0, ctx_sum=0.0, absent=0, unjudged=0)
    for p, (ctx_idx, frames) in zip(plans, layout):
        ref = emb[ctx_idx].mean(axis=0) if ctx_idx else None
        if ref is not None:
            ref = ref / max(np.linalg.norm(ref), 1e-12)
        misses = gt_missing = gt_terms = ctx_terms = 0
        gt_sum = ctx_sum = 0.0
        for ip, ig, ib in frames:
            if not detect_pred and ip is not None:
                if ib is None:
                    totals["unjudged"] += 1
                elif float(emb[ip] @ emb[ib]) > float(emb[ip] @ emb[ig]):
                    totals["absent"] += 1
                    ip = None     # the crop shows the background, not the subject: a miss like any other
            if ip is None:
                misses += 1     # hiding the subject scores 0 in both figures
            if ig is None:
                gt_missing += 1
            else:
                gt_terms += 1
                gt_sum += 0.0 if ip is None else max(0.0, float(emb[ip] @ emb[ig]))
            if ref is not None:
                ctx_terms += 1
                ctx_sum += 0.0 if ip is None else max(0.0, float(emb[ip] @ ref))
        s = p.subject
        per_subject.append(SubjectDSC(
            instance_id=s.instance_id, name=s.name or "", coco_class=s.coco_class,
            entry_frame=p.entry, terms=len(frames), misses=misses, gt_missing=gt_missing,
            context_crops=len(ctx_idx), dsc_gt=gt_sum / gt_terms if gt_terms else None,
            dsc_ctx=ctx_sum / ctx_terms if ctx_terms else None))
        totals["terms"] += len(frames)
        totals["misses"] += misses
        totals["gt_terms"] += gt_terms
        totals["gt_sum"] += gt_sum
        totals["ctx_terms"] += ctx_terms
        totals["ctx_sum"] += ctx_sum
    n = totals["terms"]
    return DSCResult(
        dsc_gt=totals["gt_sum"] / totals["gt_terms"] if totals["gt_terms"] else None,
        dsc_ctx=totals["ctx_sum"] / totals["ctx_terms"] if totals["ctx_terms"] else None,
        miss_rate=totals["misses"] / n if n else None, terms=n, misses=totals["misses"],
        gt_terms=totals["gt_terms"], ctx_terms=totals["ctx_terms"], mode=mode, subjects=tuple(per_subject),
        displaced=displaced[0], absent=totals["absent"], unjudged=totals["unjudged"],
        detector=detector_name(detector if detect_pred or detect_gt else None))
