"""Retrieval views: which memory frames each target frame read, beside when each subject was visible.

Input: the per-clip logs `hmworld generate ... save_retrieval=true` writes (``<out>.retrieval/<clip_id>.npz``:
``indices [steps, blocks, Lc+Lt, top_k]``, -1 = none, plus metadata) and the split's events.json. Output: a heat
map (rows: target latent frames, columns: memory frames, cell: how many (block, step) pairs retrieved that memory
frame for that target frame) with each subject's visibility per memory frame below it and per target latent frame
beside it, as a PNG per clip, and one self-contained HTML page (PNGs inlined) with a table per clip. This is the
HyDRA paper's Figures A3/A4 for any checkpoint.

Frame mapping (Wan's VAE layout, each half encoded separately): latent frame 0 of a half is its first video frame,
latent frame i >= 1 its video frames 4i-3 .. 4i; memory frame j covers latent frames [kt*j, kt*(j+1)) with kt the
tokenizer's temporal stride. A subject's visibility in a latent (memory) frame is the fraction of the video frames
it covers where events.json's ``visible_intervals`` show the subject.
"""
from __future__ import annotations

import base64
import html
import io
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from hmworld.split.schema import EventsFile, SubjectsFile

from .components import VAE_TEMPORAL_STRIDE


def latent_video_frames(latent: int, context_latents: int, context_frames: int) -> list[int]:
    """Clip video frames (from the first context frame) that latent frame ``latent`` (context first) encodes."""
    half_start, i = (0, latent) if latent < context_latents else (context_frames, latent - context_latents)
    if i == 0:
        return [half_start]
    return [half_start + VAE_TEMPORAL_STRIDE * i - VAE_TEMPORAL_STRIDE + 1 + k for k in range(VAE_TEMPORAL_STRIDE)]


def memory_latents(mem: int, kt: int, total_latents: int) -> list[int]:
    return [f for f in range(kt * mem, kt * (mem + 1)) if f < total_latents]


def visibility(intervals, frames: list[int]) -> float:
    """Fraction of ``frames`` inside the half-open ``intervals`` (None: unknown -> NaN)."""
    if intervals is None:
        return float("nan")
    if not frames:
        return 0.0
    return sum(any(int(s) <= f < int(e) for s, e in intervals) for f in frames) / len(frames)


@dataclass
class ClipView:
    clip_id: str
    counts: np.ndarray  # [Lt, Fm]: retrievals of memory frame j by target latent frame i, over blocks and steps
    mem_vis: dict  # instance id -> [Fm] visibility per memory frame
    tgt_vis: dict  # instance id -> [Lt] visibility per target latent frame
    events: list  # (instance id, exit_frame, entry_frame)
    names: dict  # instance id -> subject name
    meta: dict
    context_memory: int  # memory frames [0, context_memory) are the context's

    @property
    def total(self) -> int:
        return int(self.counts.sum())


def build_view(record: dict, events: EventsFile | dict | None, subjects: SubjectsFile | dict | None = None
               ) -> ClipView:
    """Counts and visibility of one clip from its retrieval log and the split's events.json / subjects.json
    (records of hmworld.split.schema or their dicts)."""
    idx, meta = np.asarray(record["indices"]), record["meta"]
    lc, lt = int(meta["context_latents"]), int(meta["target_latents"])
    kt = int(meta["memory_kernel"][0])
    total = lc + lt
    fm = -(-total // kt)
    tgt = idx[:, :, lc:total].reshape(-1, lt, idx.shape[-1])  # [(steps*blocks), Lt, top_k]
    counts = np.zeros((lt, fm), np.int64)
    for i in range(lt):
        vals = tgt[:, i].reshape(-1)
        vals = vals[vals >= 0]
        counts[i] = np.bincount(vals, minlength=fm)[:fm]
    cf = int(meta["context_frames"])
    mem_frames = [sorted({v for f in memory_latents(j, kt, total) for v in latent_video_frames(f, lc, cf)})
                  for j in range(fm)]
    tgt_frames = [latent_video_frames(lc + i, lc, cf) for i in range(lt)]
    mem_vis, tgt_vis, evs = {}, {}, []
    events = EventsFile.coerce(events) if events is not None else None
    subjects = SubjectsFile.coerce(subjects)
    for s in events.subjects if events else []:
        sid, iv = s.instance_id, s.visible_intervals
        mem_vis[sid] = np.array([visibility(iv, f) for f in mem_frames])
        tgt_vis[sid] = np.array([visibility(iv, f) for f in tgt_frames])
        evs += [(sid, e.exit_frame, e.entry_frame) for e in s.events]
    names = {s.instance_id: s.name or str(s.instance_id) for s in (subjects.subjects if subjects else [])}
    return ClipView(str(meta["clip_id"]), counts, mem_vis, tgt_vis, evs, names, meta, -(-lc // kt))


def draw_png(view: ClipView) -> bytes:
    """The heat map with visibility strips, as PNG bytes (matplotlib, Agg backend)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    lt, fm = view.counts.shape
    sids = sorted(view.mem_vis)
    ns = max(1, len(sids))
    fig = plt.figure(figsize=(2.6 + 0.42 * fm + 0.35 * ns, 2.4 + 0.32 * lt + 0.3 * ns), dpi=110)
    gs = fig.add_gridspec(2, 2, width_ratios=[fm, 0.9 * ns], height_ratios=[lt, 0.9 * ns], wspace=0.06, hspace=0.08)
    ax = fig.add_subplot(gs[0, 0])
    im = ax.imshow(view.counts, cmap="magma", aspect="auto", vmin=0)
    ax.axvline(view.context_memory - 0.5, color="cyan", lw=1.5)
    ax.set_yticks(range(lt))
    ax.set_yticklabels([f"t{i}" for i in range(lt)], fontsize=7)
    ax.tick_params(labelbottom=False)
    ax.set_ylabel("target latent frame")
    m = view.meta
    ax.set_title(f"{view.clip_id}: {m['retrieval_mode']}, top_k {m['top_k']}, window {m['window_size']}\n"
                 f"retrievals over {m['steps']} steps x {int(view.total / max(1, lt * m['top_k'] * m['steps']) + 0.5)}"
                 f" blocks (cyan: context | target memory)", fontsize=8)
    for i in range(lt):
        for j in range(fm):
            if view.counts[i, j]:
                ax.text(j, i, str(view.counts[i, j]), ha="center", va="center", fontsize=6,
                        color="white" if view.counts[i, j] < 0.6 * view.counts.max() else "black")
    vis_cmap = "Greens"
    axb = fig.add_subplot(gs[1, 0], sharex=ax)
    mv = np.stack([view.mem_vis[s] for s in sids]) if sids else np.full((1, fm), np.nan)
    axb.imshow(mv, cmap=vis_cmap, vmin=0, vmax=1, aspect="auto")
    axb.axvline(view.context_memory - 0.5, color="cyan", lw=1.5)
    axb.set_yticks(range(len(sids)))
    axb.set_yticklabels([view.names.get(s, f"id {s}")[:14] for s in sids], fontsize=7)
    axb.set_xticks(range(fm))
    axb.set_xticklabels([f"m{j}" for j in range(fm)], fontsize=7)
    axb.set_xlabel("memory frame (subject visible: green)")
    axr = fig.add_subplot(gs[0, 1], sharey=ax)
    tv = np.stack([view.tgt_vis[s] for s in sids], 1) if sids else np.full((lt, 1), np.nan)
    axr.imshow(tv, cmap=vis_cmap, vmin=0, vmax=1, aspect="auto")
    axr.set_xticks(range(len(sids)))
    axr.set_xticklabels([view.names.get(s, f"id {s}")[:8] for s in sids], fontsize=6, rotation=60)
    plt.setp(axr.get_yticklabels(), visible=False)
    axr.set_title("visible", fontsize=7)
    fig.colorbar(im, ax=[ax, axr], fraction=0.04, pad=0.02).ax.tick_params(labelsize=6)
    buf = io.BytesIO()
    fig.savefig(buf, format="png", bbox_inches="tight")
    plt.close(fig)
    return buf.getvalue()


def visible_share(view: ClipView) -> float | None:
    """Of the retrievals made by target frames where a subject is visible, the share that read a context memory
    frame where that subject was visible (None when no such target frame)."""
    hits = total = 0
    for sid, tv in view.tgt_vis.items():
        mv = view.mem_vis[sid]
        for i in np.nonzero(np.nan_to_num(tv) > 0)[0]:
            row = view.counts[i, : view.context_memory]
            total += int(view.counts[i].sum())
            hits += int(row[np.nan_to_num(mv[: view.context_memory]) > 0].sum())
    return hits / total if total else None


def render_html(views: list[ClipView], pngs: list[bytes], title: str) -> str:
    rows = []
    for v, png in zip(views, pngs):
        share = visible_share(v)
        evs = ", ".join(f"{html.escape(v.names.get(s, str(s)))}: exit {a}, entry {b} (gap {b - a})"
                        for s, a, b in v.events)
        rows.append(
            f"<section><h2>{html.escape(v.clip_id)}</h2><p>events: {evs or 'none'}<br>"
            f"retrievals logged: {v.total}; from target frames showing a subject, share reading a context memory "
            f"frame where it was visible: {'n/a' if share is None else f'{share:.2f}'}</p>"
            f"<img alt='retrieval heat map of {html.escape(v.clip_id)}' "
            f"src='data:image/png;base64,{base64.b64encode(png).decode()}'></section>")
    return (f"<!doctype html><html><head><meta charset='utf-8'><title>{html.escape(title)}</title><style>"
            "body{font-family:sans-serif;margin:1.5em;max-width:1100px}img{max-width:100%}h2{font-size:1.05em}"
            "section{margin-bottom:2em}</style></head><body>"
            f"<h1>{html.escape(title)}</h1><p>Rows: target latent frames; columns: memory frames (left of the cyan "
            "line: the context's); cell: how many (block, step) pairs retrieved that memory frame. Green strips: fraction of "
            "the video frames of each memory frame (below) and target frame (right) where the subject is visible "
            "(events.json).</p>" + "".join(rows) + "</body></html>\n")


def write_views(logs: list[Path], out: Path, split=None, title: str = "retrieval") -> list[Path]:
    """PNG per clip plus ``index.html`` in ``out``, every file written atomically. ``split``: a `Split` (events)."""
    from hmworld.fsutil import atomic_write_bytes, atomic_write_text

    from .generate import read_retrieval

    out.mkdir(parents=True, exist_ok=True)
    views, pngs, written = [], [], []
    for path in logs:
        rec = read_retrieval(path)
        clip = split[rec["meta"]["clip_id"]] if split is not None else None
        view = build_view(rec, clip.events_file if clip else None, clip.subjects_file if clip else None)
        png = draw_png(view)
        atomic_write_bytes(out / f"{view.clip_id}.png", png)
        views.append(view)
        pngs.append(png)
        written.append(out / f"{view.clip_id}.png")
    atomic_write_text(out / "index.html", render_html(views, pngs, title))
    return written + [out / "index.html"]
