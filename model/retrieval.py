"""Dynamic retrieval attention (HyDRA, arXiv 2603.25716) as a functional core.

Token layout everywhere: ``[batch, frames * height * width, heads, head_dim]``, frame-major, row-major inside a
frame, exactly as diffusers' Wan flattens its latent grid. Memory tokens (the tokenizer's output) use the same
layout over the memory grid ``(Fm, Hm, Wm)``; memory frame ``j`` summarises latent frames
``[j * mem_stride, (j + 1) * mem_stride)`` (clipped to the clip: a frame only padded in by the tokenizer is no
source).

For every latent frame ``i`` the queries of that frame attend to

* the keys/values of its local window: ``window_size`` consecutive latent frames centred on ``i`` and shifted
  inwards at the clip ends, and
* the tokens of up to ``top_k`` memory frames, ranked by a frame-level affinity (by default the dot product of the
  spatial means of the queries and of the memory keys, all heads together, unscaled), after excluding memory
  frames whose source frames all lie inside the window (those frames are already read at full resolution).

Implementation: a block-sparse formulation. Query frames are processed in a few chunks; each chunk gathers the
key/value rows its frames need with one ``index_select`` into a buffer sized to at most one copy of ``k``/``v``,
and runs one batched ``scaled_dot_product_attention`` over the chunk's frames. The number of chunks is about
``window_size + top_k * |memory frame| / |frame|`` whatever the clip length, so there is no Python loop over frames,
and keys/values are never copied once per query frame all at once. On CPU this beats FlexAttention (compiled
FlexAttention reached ~0.36 of the matmul rate at the 480p grid on 2 cores; the numbers of this formulation
are in model/README.md and come from ``perf/bench_retrieval.py``).
"""
from __future__ import annotations

import math

import torch
import torch.nn.functional as F

__all__ = [
    "dynamic_retrieval_attention",
    "local_window_bounds",
    "memory_frame_spans",
    "frame_representation",
    "select_memory_frames",
    "retrieval_attention_with_indices",
]


def local_window_bounds(num_frames: int, window_size: int, device=None) -> tuple[torch.Tensor, torch.Tensor]:
    """Half-open ``[start, end)`` local window per latent frame, ``[F]`` each.

    The window is centred on the frame (for odd sizes) and shifted inwards at the clip ends so it always holds
    ``min(window_size, num_frames)`` frames, as the released code does.
    """
    if window_size < 1:
        raise ValueError(f"window_size must be >= 1, got {window_size}")
    size = min(window_size, num_frames)
    i = torch.arange(num_frames, device=device)
    start = (i - window_size // 2).clamp(min=0, max=num_frames - size)
    return start, start + size


def memory_frame_spans(num_mem_frames: int, mem_stride: int, num_frames: int, device=None):
    """Half-open span ``[start, end)`` of latent frames each memory frame summarises, ``[Fm]`` each."""
    j = torch.arange(num_mem_frames, device=device)
    start = j * mem_stride
    return start, torch.clamp(start + mem_stride, max=num_frames)


def frame_representation(x: torch.Tensor, num_frames: int) -> torch.Tensor:
    """Frame-level representation ``[B, F, heads * head_dim]`` (float32).

    ``x`` is either token-level ``[B, F * S, heads, head_dim]`` (reduced by the mean over the S spatial tokens of
    each frame) or already frame-level ``[B, F, D]``.
    """
    if x.ndim == 3:
        if x.shape[1] != num_frames:
            raise ValueError(f"frame-level representation has {x.shape[1]} frames, expected {num_frames}")
        return x.float()
    if x.ndim != 4 or x.shape[1] % num_frames:
        raise ValueError(f"cannot split {tuple(x.shape)} into {num_frames} frames")
    b = x.shape[0]
    return x.float().reshape(b, num_frames, -1, x.shape[2] * x.shape[3]).mean(dim=2)


def select_memory_frames(
    affinity: torch.Tensor, *, num_frames: int, top_k: int, window_size: int, mem_stride: int
) -> torch.Tensor:
    """Top-k memory frames per latent frame from an affinity ``[B, F, Fm]``; returns ``[B, F, top_k]`` (long).

    Memory frames whose source frames lie entirely inside the frame's local window are not eligible. Ties go
    to the lowest memory-frame index (stable sort). When fewer than ``top_k`` frames are eligible the row is
    padded with -1, so an excluded frame is never attended to.
    """
    b, f, fm = affinity.shape
    if f != num_frames:
        raise ValueError(f"affinity has {f} query frames, expected {num_frames}")
    device = affinity.device
    if top_k <= 0:
        return torch.empty(b, f, 0, dtype=torch.long, device=device)
    w_start, w_end = local_window_bounds(num_frames, window_size, device)
    m_start, m_end = memory_frame_spans(fm, mem_stride, num_frames, device)
    inside = (m_start[None, :] >= w_start[:, None]) & (m_end[None, :] <= w_end[:, None])  # [F, Fm]
    eligible = ~inside
    # Non-finite affinities (degenerate inputs) rank last among the eligible frames but stay eligible;
    # excluded frames get -inf, strictly below every eligible one, so they sort after all of them.
    lo, hi = torch.finfo(torch.float32).min, torch.finfo(torch.float32).max
    scores = torch.nan_to_num(affinity.float(), nan=lo, posinf=hi, neginf=lo).masked_fill(inside, float("-inf"))
    order = torch.sort(scores, dim=-1, descending=True, stable=True).indices[..., :top_k]
    keep = torch.gather(eligible.expand(b, f, fm), -1, order)
    order = torch.where(keep, order, torch.full_like(order, -1))
    if top_k > fm:
        order = torch.cat([order, order.new_full((b, f, top_k - fm), -1)], dim=-1)
    return order


def dynamic_retrieval_attention(
    q: torch.Tensor,
    k: torch.Tensor,
    v: torch.Tensor,
    k_mem: torch.Tensor | None = None,
    v_mem: torch.Tensor | None = None,
    *,
    grid: tuple[int, int, int],
    mem_grid: tuple[int, int, int] | None = None,
    top_k: int = 10,
    window_size: int = 5,
    mem_stride: int = 2,
    q_repr: torch.Tensor | None = None,
    k_mem_repr: torch.Tensor | None = None,
    affinity: torch.Tensor | None = None,
    return_indices: bool = False,
    chunk_frames: int | None = None,
):
    """HyDRA's attention: local window + top-k retrieved memory frames per latent frame.

    Args:
        q, k, v: ``[B, F*H*W, heads, head_dim]``.
        k_mem, v_mem: ``[B, Fm*Hm*Wm, heads, head_dim]`` memory tokens (may be None with ``top_k=0``).
        grid, mem_grid: ``(F, H, W)`` and ``(Fm, Hm, Wm)``.
        q_repr, k_mem_repr: what the frame-level affinity is computed from (token-level, same layout as q /
            k_mem, or frame-level ``[B, F, D]``); default q and k_mem. The model passes pre-RoPE tensors.
        affinity: ``[B, F, Fm]`` scores that replace the q/k affinity (the FOV-overlap mode uses this).
        return_indices: also return the ``[B, F, top_k]`` retrieved memory-frame indices (-1 = none).
        chunk_frames: query frames per batched attention call; default: as many as fit one copy of k/v.

    Returns ``[B, F*H*W, heads, head_dim]`` (and the indices). Scale is 1/sqrt(head_dim).
    """
    nf, h, w = (int(s) for s in grid)
    b, n, heads, dim = q.shape
    if n != nf * h * w:
        raise ValueError(f"q has {n} tokens but grid {tuple(grid)} has {nf * h * w}")
    if k.shape != q.shape or v.shape != q.shape:
        raise ValueError(f"q, k, v shapes differ: {tuple(q.shape)}, {tuple(k.shape)}, {tuple(v.shape)}")
    use_memory = top_k > 0 and k_mem is not None
    if top_k > 0 and k_mem is None and affinity is None:
        raise ValueError("top_k > 0 needs memory tokens k_mem / v_mem")
    if use_memory:
        if mem_grid is None or v_mem is None:
            raise ValueError("memory tokens need mem_grid and v_mem")
        fm = int(mem_grid[0])
        if k_mem.shape[1] != math.prod(int(s) for s in mem_grid) or v_mem.shape != k_mem.shape:
            raise ValueError(f"k_mem {tuple(k_mem.shape)} / v_mem do not match mem_grid {tuple(mem_grid)}")
        if affinity is None:
            # Retrieval is a discrete choice (non-differentiable in the released code too): no graph needed.
            with torch.no_grad():
                qr = frame_representation(q if q_repr is None else q_repr, nf)
                kr = frame_representation(k_mem if k_mem_repr is None else k_mem_repr, fm)
                affinity = qr @ kr.transpose(1, 2)
        elif affinity.shape != (b, nf, fm):
            raise ValueError(f"affinity must be {(b, nf, fm)}, got {tuple(affinity.shape)}")
        indices = select_memory_frames(
            affinity.detach(), num_frames=nf, top_k=top_k, window_size=window_size, mem_stride=mem_stride
        )
    else:
        indices = torch.full((b, nf, max(top_k, 0)), -1, dtype=torch.long, device=q.device)
    out = retrieval_attention_with_indices(
        q, k, v, k_mem if use_memory else None, v_mem if use_memory else None,
        grid=grid, mem_grid=mem_grid, indices=indices, window_size=window_size, chunk_frames=chunk_frames,
    )
    return (out, indices) if return_indices else out


def retrieval_attention_with_indices(
    q, k, v, k_mem, v_mem, *, grid, mem_grid, indices, window_size, chunk_frames=None
) -> torch.Tensor:
    """Attention of each frame's queries over its local window plus the memory frames in ``indices``."""
    nf, h, w = (int(s) for s in grid)
    hw = h * w
    b, n, heads, dim = q.shape
    device = q.device
    w_start, w_end = local_window_bounds(nf, window_size, device)
    ws = int(w_end[0] - w_start[0])
    local_frames = w_start[:, None] + torch.arange(ws, device=device)  # [F, ws]

    slots = indices.shape[-1] if k_mem is not None else 0
    hwm = 0
    if slots:
        fm = int(mem_grid[0])
        hwm = k_mem.shape[1] // fm
    n_local, n_mem = ws * hw, slots * hwm
    keys_per_frame = n_local + n_mem
    valid = indices >= 0 if slots else None
    need_mask = bool(slots) and not bool(valid.all())

    differentiable = torch.is_grad_enabled() and any(
        t is not None and t.requires_grad for t in (q, k, v, k_mem, v_mem)
    )
    if chunk_frames is None:
        # One copy of k (and of v) in the gather buffer; the autograd path also holds the two pieces that
        # are concatenated, so it takes half as many frames per call.
        budget = nf * hw // (2 if differentiable and slots else 1)
        chunk_frames = max(1, budget // keys_per_frame)
    chunk_frames = max(1, min(int(chunk_frames), nf))

    if not differentiable:  # index rows computed once for all chunks
        rows_local, rows_mem = _buffer_rows(
            indices if slots else None, local_frames, b, nf, hw, k_mem.shape[1] // hwm if slots else 0, hwm)
    qf = q.reshape(b, nf, hw, heads, dim)
    # Inference writes each chunk straight into the output; autograd collects the chunks and concatenates.
    out = None if differentiable else q.new_empty(b, nf, hw, heads, dim)
    outs = []
    for f0 in range(0, nf, chunk_frames):
        f1 = min(nf, f0 + chunk_frames)
        c = f1 - f0
        if differentiable:
            idx = indices[:, f0:f1].clamp(min=0) if slots else None  # [B, c, slots]
            kk, vv = _gather_autograd(k, v, k_mem, v_mem, local_frames[f0:f1], idx, nf, hw, hwm)
        else:
            kk, vv = _gather_buffer(k, v, k_mem, v_mem, rows_local, rows_mem, f0, f1)
        mask = None
        if need_mask:
            mem_ok = valid[:, f0:f1].reshape(b * c, slots).repeat_interleave(hwm, dim=1)
            mask = torch.cat([mem_ok.new_ones(b * c, n_local), mem_ok], dim=1)[:, None, None, :]
        qc = qf[:, f0:f1].reshape(b * c, hw, heads, dim).transpose(1, 2)
        o = F.scaled_dot_product_attention(qc, kk, vv, attn_mask=mask)  # [B*c, heads, hw, dim]
        del kk, vv  # free this chunk's gather before the next one is allocated: one copy at a time
        o = o.transpose(1, 2).reshape(b, c, hw, heads, dim)
        if out is None:
            outs.append(o)
        else:
            out[:, f0:f1] = o
        del o
    if out is None:
        out = torch.cat(outs, dim=1) if len(outs) > 1 else outs[0]
    return out.reshape(b, n, heads, dim)


def _gather_autograd(k, v, k_mem, v_mem, frames, idx, nf, hw, hwm):
    """Differentiable gather (indexing backward scatters into k/v); returns ``[B*c, heads, L, dim]`` views."""
    b, _, heads, dim = k.shape
    c, ws = frames.shape
    kk = k.reshape(b, nf, hw, heads, dim)[:, frames].reshape(b * c, ws * hw, heads, dim)
    vv = v.reshape(b, nf, hw, heads, dim)[:, frames].reshape(b * c, ws * hw, heads, dim)
    if idx is not None:
        fm = k_mem.shape[1] // hwm
        bi = torch.arange(b, device=k.device)[:, None, None]
        km = k_mem.reshape(b, fm, hwm, heads, dim)[bi, idx].reshape(b * c, -1, heads, dim)
        vm = v_mem.reshape(b, fm, hwm, heads, dim)[bi, idx].reshape(b * c, -1, heads, dim)
        kk, vv = torch.cat([kk, km], dim=1), torch.cat([vv, vm], dim=1)
    return kk.transpose(1, 2), vv.transpose(1, 2)


def _buffer_rows(indices, local_frames, b, nf, hw, fm, hwm):
    """Source rows for the inference gather, for every query frame at once.

    Returns ``[ws*hw, B, F]`` rows of k/v viewed as ``[B*F*hw, heads, dim]`` (key slot, batch, query frame) and
    ``[slots*hwm, B, F]`` rows of the memory viewed as ``[B*Fm*hwm, heads, dim]`` (None without memory).
    """
    device = local_frames.device
    bi = torch.arange(b, device=device)[None, :, None]
    t = torch.arange(local_frames.shape[1] * hw, device=device)
    frame_of_slot = local_frames.T.repeat_interleave(hw, dim=0)  # [ws*hw, F]
    local = (bi * nf + frame_of_slot[:, None, :]) * hw + (t % hw)[:, None, None]
    if indices is None:
        return local, None
    tm = torch.arange(indices.shape[-1] * hwm, device=device)
    mem_frame = indices.clamp(min=0).permute(2, 0, 1)[tm // hwm]  # [slots*hwm, B, F]
    return local, (bi * fm + mem_frame) * hwm + (tm % hwm)[:, None, None]


def _gather_buffer(k, v, k_mem, v_mem, rows_local, rows_mem, f0, f1):
    """Inference gather straight into one buffer per tensor (no intermediate pieces).

    The buffer is laid out key-major ``[L, B*c, heads, dim]`` so the local and memory parts are contiguous row
    ranges that ``index_select`` writes in place; the returned ``[B*c, heads, L, dim]`` is a strided view that
    SDPA reads directly (rows of ``dim`` stay contiguous).
    """
    heads, dim = k.shape[2], k.shape[3]
    src = rows_local[:, :, f0:f1].reshape(-1)
    n_local = rows_local.shape[0]
    n_mem = 0 if rows_mem is None else rows_mem.shape[0]
    bc = rows_local.shape[1] * (f1 - f0)
    srcm = rows_mem[:, :, f0:f1].reshape(-1) if n_mem else None
    outs = []
    for x, xm in ((k, k_mem), (v, v_mem)):
        buf = x.new_empty(n_local + n_mem, bc, heads, dim)
        torch.index_select(x.reshape(-1, heads, dim), 0, src, out=buf[:n_local].view(-1, heads, dim))
        if n_mem:
            torch.index_select(xm.reshape(-1, heads, dim), 0, srcm, out=buf[n_local:].view(-1, heads, dim))
        outs.append(buf.permute(1, 2, 0, 3))
    return outs[0], outs[1]
