"""Weight-free subject metrics from the ground truth's instance masks: PSNR and SSIM on the re-entry frames, inside
the returning subject's mask, inside its box, and on the background outside every subject.

Whole-frame PSNR/SSIM say little about a subject 2-11 px tall: recolouring it changes a few hundred of 12,288
pixel values. These metrics restrict the same measures to the pixels that matter for memory (the subject after it
comes back) and, for contrast, to the background of the same frames. They need no learned weights, so they run
wherever the ground truth has instance masks (rendered splits; imported splits have none).

Conventions (all functions are pure, over uint8 ``[T, H, W, 3]`` arrays of the **target half** and ``uint8``
instance masks ``[F, H, W]`` of the **whole clip**, frame indices counted from the first context frame as in
events.json):

* **Re-entry frames of an event** (``exit_frame``, ``entry_frame``): clip frames from ``entry_frame`` to the end of
  the clip where the ground truth shows the subject (``visible_intervals`` of events.json; when null, frames where
  the mask has at least one pixel). The hidden gap is ``entry_frame - exit_frame`` frames.
* **Regions** per frame: *subject* = pixels whose instance id is the subject's; *box* = the subject's
  ``visible_box`` from subjects.json (else the bounding box of its mask), rounded outwards to whole pixels and
  clipped to the frame; *background* = pixels whose instance id is 0 (outside every subject).
* **PSNR in a region**: ``10 log10(1 / MSE)`` with the MSE over the region's pixels and the 3 channels, data range
  1, exact from the 8-bit values, capped at `PSNR_CAP_DB` as whole-frame PSNR; frames where the region is empty
  are skipped.
* **SSIM in a region**: the per-pixel SSIM map of the whole-frame convention (Gaussian 11 taps, sigma 1.5, K1
  0.01, K2 0.03, population covariance, data range 1, RGB channels averaged) computed at every pixel, the frame
  extended by half-sample symmetric reflection (scipy's ``reflect``, what skimage's filter uses before it crops)
  so that subjects at the frame edge, where re-entries happen, are scored; averaged over the region's pixels.
  Inside the frame (5 px from every edge) the map equals the one whole-frame SSIM averages.
* **Aggregation**: event value = mean over its re-entry frames; clip value = mean over its events (each event
  counts once, whatever its length); background and whole-frame values on the union of the clip's re-entry frames.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Iterable, Mapping, Sequence

import numpy as np

from hmworld.split.schema import EventsFile, SubjectsFile

from .conventions import PSNR_CAP_DB, SSIM_K1, SSIM_K2
from .frames import MetricInputError, check_pair
from .pixel import _blur_valid, gaussian_kernel

REGIONS = ("subject", "box", "background", "frame")


# ------------------------------------------------------------------------------------------------ per frame
def squared_error(pred: np.ndarray, target: np.ndarray) -> np.ndarray:
    """Per-pixel squared error summed over RGB, exact (int32 ``[T, H, W]``; at most 3 x 255^2)."""
    check_pair(pred, target)
    diff = pred.astype(np.int32) - target.astype(np.int32)
    return np.einsum("thwc,thwc->thw", diff, diff)


def region_psnr(pred: np.ndarray, target: np.ndarray, mask: np.ndarray, cap_db: float = PSNR_CAP_DB,
                sq: np.ndarray | None = None) -> np.ndarray:
    """PSNR per frame inside ``mask`` (bool ``[T, H, W]``); NaN where the mask is empty. ``sq``: a precomputed
    `squared_error` of the same frames (several regions of one clip share it)."""
    check_pair(pred, target)
    mask = _check_mask(mask, pred)
    if sq is None:
        sq = squared_error(pred, target)
    sse = np.where(mask, sq, 0).reshape(len(mask), -1).sum(axis=1, dtype=np.int64).astype(np.float64)
    n = mask.reshape(len(mask), -1).sum(axis=1) * 3
    out = np.full(len(mask), np.nan)
    has = n > 0
    mse = sse[has] / (n[has] * 255.0 ** 2)
    with np.errstate(divide="ignore"):
        val = np.where(mse > 0, -10.0 * np.log10(np.maximum(mse, 1e-300)), np.inf)
    out[has] = np.minimum(val, cap_db)
    return out


def ssim_map(pred: np.ndarray, target: np.ndarray, batch_frames: int = 4) -> np.ndarray:
    """Per-pixel SSIM ``[T, H, W]`` (RGB channels averaged), the frame extended by symmetric reflection."""
    import torch

    from .conventions import SSIM_WINDOW

    check_pair(pred, target)
    taps = [float(v) for v in gaussian_kernel()]
    r = SSIM_WINDOW // 2
    pad = ((0, 0), (r, r), (r, r), (0, 0))
    out = []
    with torch.inference_mode():
        for i in range(0, len(pred), batch_frames):
            x = np.pad(pred[i:i + batch_frames], pad, mode="symmetric")
            y = np.pad(target[i:i + batch_frames], pad, mode="symmetric")
            x = torch.from_numpy(x).permute(0, 3, 1, 2).contiguous().float() / 255.0 - 0.5
            y = torch.from_numpy(y).permute(0, 3, 1, 2).contiguous().float() / 255.0 - 0.5
            mx, my = _blur_valid(x, taps), _blur_valid(y, taps)
            vx = _blur_valid(x * x, taps) - mx * mx
            vy = _blur_valid(y * y, taps) - my * my
            cxy = _blur_valid(x * y, taps) - mx * my
            mx, my = mx + 0.5, my + 0.5
            c1, c2 = SSIM_K1 ** 2, SSIM_K2 ** 2
            s = ((2 * mx * my + c1) * (2 * cxy + c2)) / ((mx * mx + my * my + c1) * (vx + vy + c2))
            out.append(s.double().mean(dim=1).numpy())
    return np.concatenate(out)


def region_ssim(pred: np.ndarray, target: np.ndarray, mask: np.ndarray, smap: np.ndarray | None = None) -> np.ndarray:
    """SSIM per frame averaged over ``mask``'s pixels; NaN where the mask is empty. ``smap``: a precomputed
    `ssim_map` of the same frames."""
    mask = _check_mask(mask, pred)
    if smap is None:
        smap = ssim_map(pred, target)
    n = mask.reshape(len(mask), -1).sum(axis=1)
    tot = (smap * mask).reshape(len(mask), -1).sum(axis=1)
    return np.where(n > 0, tot / np.maximum(n, 1), np.nan)


def _check_mask(mask: np.ndarray, video: np.ndarray) -> np.ndarray:
    mask = np.asarray(mask)
    if mask.shape != video.shape[:3]:
        raise MetricInputError(f"mask: expected shape {list(video.shape[:3])} (frames, height, width), got "
                               f"{list(mask.shape)}")
    return mask.astype(bool)


def box_mask(box: Sequence[float] | None, height: int, width: int) -> np.ndarray:
    """A box ``[x0, y0, x1, y1]`` in pixels -> bool ``[H, W]``, rounded outwards, clipped to the frame."""
    m = np.zeros((height, width), bool)
    if box is None:
        return m
    x0, y0 = max(0, int(np.floor(box[0]))), max(0, int(np.floor(box[1])))
    x1, y1 = min(width, int(np.ceil(box[2]))), min(height, int(np.ceil(box[3])))
    if x1 > x0 and y1 > y0:
        m[y0:y1, x0:x1] = True
    return m


def mask_box(mask: np.ndarray) -> list[float] | None:
    """Bounding box ``[x0, y0, x1, y1]`` (pixel edges) of a bool ``[H, W]`` mask; None when empty."""
    ys, xs = np.nonzero(mask)
    if len(ys) == 0:
        return None
    return [float(xs.min()), float(ys.min()), float(xs.max() + 1), float(ys.max() + 1)]


# ------------------------------------------------------------------------------------------------ events
@dataclass(frozen=True)
class ReentryEvent:
    instance_id: int
    exit_frame: int
    entry_frame: int
    frames: tuple[int, ...]  # clip frame indices scored (re-entry frames where the subject is visible)

    @property
    def gap_frames(self) -> int:
        return self.entry_frame - self.exit_frame


def _in_intervals(f: int, intervals: Iterable[Sequence[int]]) -> bool:
    return any(int(s) <= f < int(e) for s, e in intervals)


def reentry_events(events: EventsFile | Mapping, instances: np.ndarray, context_frames: int) -> list[ReentryEvent]:
    """Every exit-entry event of events.json (a record or its dict) with its re-entry frames (entry to the clip
    end, subject visible)."""
    total = int(instances.shape[0])
    out = []
    for subj in EventsFile.coerce(events).subjects:
        sid, intervals = subj.instance_id, subj.visible_intervals
        for ev in subj.events:
            entry, exit_ = ev.entry_frame, ev.exit_frame
            if entry < context_frames:
                raise MetricInputError(f"events: subject {sid} entry_frame {entry} lies in the context half "
                                       f"(context_frames {context_frames})")
            if intervals is not None:
                frames = [f for f in range(entry, total) if _in_intervals(f, intervals)]
            else:
                frames = [f for f in range(entry, total) if (instances[f] == sid).any()]
            out.append(ReentryEvent(sid, exit_, entry, tuple(frames)))
    return out


@dataclass(frozen=True)
class EventScore:
    """One exit-entry event: metrics on its re-entry frames, per region, and its hidden-gap length."""

    instance_id: int
    exit_frame: int
    entry_frame: int
    gap_frames: int
    frames: int  # re-entry frames scored (with a non-empty subject mask)
    psnr: dict  # region -> mean over frames (None: no frame)
    ssim: dict

    def to_json(self) -> dict:
        return {"instance_id": self.instance_id, "exit_frame": self.exit_frame, "entry_frame": self.entry_frame,
                "gap_frames": self.gap_frames, "frames": self.frames, "psnr": self.psnr, "ssim": self.ssim}


@dataclass(frozen=True)
class MaskedScore:
    """A clip's masked metrics: ``values['subject_psnr']`` etc. (None when the clip has no re-entry frame)."""

    values: dict
    events: list = field(default_factory=list)  # EventScore per event

    def to_json(self) -> dict:
        return {"values": self.values, "events": [e.to_json() for e in self.events]}


def _mean(a: np.ndarray) -> float | None:
    a = a[np.isfinite(a)]
    return float(a.mean()) if len(a) else None


def reentry_scores(pred: np.ndarray, target: np.ndarray, instances: np.ndarray, events: EventsFile | Mapping,
                   subjects: SubjectsFile | Mapping | None, context_frames: int) -> MaskedScore:
    """Masked PSNR/SSIM of one clip. ``pred``/``target``: the target half ``[Tt, H, W, 3]``; ``instances``: the
    whole clip's masks ``[Tc + Tt, H, W]``; ``events`` / ``subjects``: the clip's events.json / subjects.json
    (records of hmworld.split.schema, or their dicts)."""
    check_pair(pred, target)
    instances = np.asarray(instances)
    tt, h, w = pred.shape[:3]
    if instances.ndim != 3 or instances.shape[1:] != (h, w) or instances.shape[0] != context_frames + tt:
        raise MetricInputError(f"instances: expected shape [{context_frames + tt}, {h}, {w}] (context + target "
                               f"frames of the clip), got {list(instances.shape)}")
    subjects = SubjectsFile.coerce(subjects)
    boxes = {s.instance_id: [fr.visible_box for fr in s.frames or []] for s in (subjects.subjects if subjects else [])}
    evs = reentry_events(events, instances, context_frames)
    frames = sorted({f for e in evs for f in e.frames})
    if not frames:
        empty = {f"{r}_{m}": None for r in REGIONS for m in ("psnr", "ssim")}
        return MaskedScore({**empty, "events": len(evs), "frames": 0}, [])
    # Every frame that any event scores, once: the SSIM map and the per-region values are computed on it.
    idx = {f: i for i, f in enumerate(frames)}
    p, t = pred[[f - context_frames for f in frames]], target[[f - context_frames for f in frames]]
    inst = instances[frames]
    smap = ssim_map(p, t)
    sq = squared_error(p, t)
    background = inst == 0
    whole = np.ones_like(background)
    per_region = {"background": (region_psnr(p, t, background, sq=sq), region_ssim(p, t, background, smap)),
                  "frame": (region_psnr(p, t, whole, sq=sq), region_ssim(p, t, whole, smap))}
    scores = []
    for e in evs:
        if not e.frames:
            scores.append(EventScore(e.instance_id, e.exit_frame, e.entry_frame, e.gap_frames, 0,
                                     {r: None for r in REGIONS}, {r: None for r in REGIONS}))
            continue
        rows = [idx[f] for f in e.frames]
        subj = inst[rows] == e.instance_id
        bx = np.stack([box_mask(_box_of(boxes, e.instance_id, f, subj[k]), h, w) for k, f in enumerate(e.frames)])
        pe, te, se, qe = p[rows], t[rows], smap[rows], sq[rows]
        ps = {"subject": region_psnr(pe, te, subj, sq=qe), "box": region_psnr(pe, te, bx, sq=qe),
              "background": per_region["background"][0][rows], "frame": per_region["frame"][0][rows]}
        ss = {"subject": region_ssim(pe, te, subj, se), "box": region_ssim(pe, te, bx, se),
              "background": per_region["background"][1][rows], "frame": per_region["frame"][1][rows]}
        scores.append(EventScore(e.instance_id, e.exit_frame, e.entry_frame, e.gap_frames,
                                 int(np.isfinite(ps["subject"]).sum()),
                                 {r: _mean(v) for r, v in ps.items()}, {r: _mean(v) for r, v in ss.items()}))
    values = {}
    for r in ("subject", "box"):
        for m in ("psnr", "ssim"):
            ev_vals = [getattr(s, m)[r] for s in scores if getattr(s, m)[r] is not None]
            values[f"{r}_{m}"] = float(np.mean(ev_vals)) if ev_vals else None
    for r in ("background", "frame"):
        values[f"{r}_psnr"] = _mean(per_region[r][0])
        values[f"{r}_ssim"] = _mean(per_region[r][1])
    values.update(events=len(evs), frames=len(frames))
    return MaskedScore(values, scores)


def _box_of(boxes: dict, sid: int, frame: int, subject_mask: np.ndarray):
    per_frame = boxes.get(sid) or []
    if frame < len(per_frame) and per_frame[frame] is not None:
        return per_frame[frame]
    return mask_box(subject_mask)


def by_gap(scores: Iterable[EventScore], metric: str = "psnr", region: str = "subject",
           edges: Sequence[int] = (0, 8, 16, 32, 64, 10 ** 9)) -> list[dict]:
    """Events grouped by hidden-gap length (frames, ``[edges[i], edges[i+1])``): count and mean of one value."""
    rows = []
    scores = list(scores)
    for lo, hi in zip(edges[:-1], edges[1:]):
        vals = [getattr(s, metric)[region] for s in scores if lo <= s.gap_frames < hi
                and getattr(s, metric)[region] is not None]
        rows.append({"gap_from": int(lo), "gap_to": int(hi), "events": len(vals),
                     "mean": float(np.mean(vals)) if vals else None})
    return rows
