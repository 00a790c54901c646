"""The functional core against a straightforward per-frame reference."""
from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from hmworld.model.retrieval import (
    dynamic_retrieval_attention,
    local_window_bounds,
    select_memory_frames,
)


def reference(q, k, v, k_mem, v_mem, grid, mem_grid, top_k, window_size, mem_stride):
    """Per-frame loop, written for clarity: copies keys/values once per frame as the released code does."""
    nf, h, w = grid
    fm, hm, wm = mem_grid
    hw, hwm = h * w, hm * wm
    b, _, heads, d = q.shape
    size = min(window_size, nf)
    qr = q.reshape(b, nf, hw, heads * d).mean(2)
    kr = k_mem.reshape(b, fm, hwm, heads * d).mean(2)
    out = torch.empty_like(q)
    all_idx = torch.full((b, nf, top_k), -1, dtype=torch.long)
    for bi in range(b):
        for i in range(nf):
            start = min(max(i - window_size // 2, 0), nf - size)
            end = start + size
            cands = []
            for j in range(fm):
                s, e = j * mem_stride, min((j + 1) * mem_stride, nf)
                if s >= start and e <= end:
                    continue
                cands.append((-(qr[bi, i] @ kr[bi, j]).item(), j))
            chosen = [j for _, j in sorted(cands)[:top_k]]  # ties: lowest index first
            all_idx[bi, i, : len(chosen)] = torch.tensor(chosen, dtype=torch.long)
            keys = [k[bi, start * hw : end * hw]] + [k_mem[bi, j * hwm : (j + 1) * hwm] for j in chosen]
            vals = [v[bi, start * hw : end * hw]] + [v_mem[bi, j * hwm : (j + 1) * hwm] for j in chosen]
            kk, vv = torch.cat(keys).transpose(0, 1), torch.cat(vals).transpose(0, 1)
            o = F.scaled_dot_product_attention(q[bi, i * hw : (i + 1) * hw].transpose(0, 1), kk, vv)
            out[bi, i * hw : (i + 1) * hw] = o.transpose(0, 1)
    return out, all_idx


def _inputs(g, b, grid, mem_grid, heads=2, d=8):
    n = grid[0] * grid[1] * grid[2]
    m = mem_grid[0] * mem_grid[1] * mem_grid[2]
    q, k, v = (torch.randn(b, n, heads, d, generator=g) for _ in range(3))
    km, vm = (torch.randn(b, m, heads, d, generator=g) for _ in range(2))
    return q, k, v, km, vm


CASES = [
    # grid, mem_grid, top_k, window, stride
    ((8, 3, 4), (4, 2, 2), 2, 5, 2),
    ((7, 3, 5), (4, 2, 3), 3, 3, 2),  # odd sizes, padded memory frame at the end
    ((6, 2, 2), (3, 1, 1), 2, 5, 2),  # the tests' 6+6-latent clips halve this
    ((12, 2, 3), (6, 1, 2), 4, 5, 2),
    ((5, 3, 3), (5, 3, 3), 2, 2, 1),  # even window, stride 1
    ((4, 2, 3), (2, 1, 2), 5, 5, 2),  # window covers all: nothing eligible, all -1
    ((9, 2, 2), (3, 1, 1), 10, 4, 3),  # fewer eligible than top_k
]


@pytest.mark.parametrize("grid,mem_grid,top_k,window,stride", CASES)
@pytest.mark.parametrize("grad", [False, True])
def test_matches_per_frame_reference(gen, grid, mem_grid, top_k, window, stride, grad):
    q, k, v, km, vm = _inputs(gen(1), 2, grid, mem_grid)
    ref, ref_idx = reference(q, k, v, km, vm, grid, mem_grid, top_k, window, stride)
    with torch.set_grad_enabled(grad):
        if grad:
            q.requires_grad_(True)
        out, idx = dynamic_retrieval_attention(
            q, k, v, km, vm, grid=grid, mem_grid=mem_grid, top_k=top_k, window_size=window,
            mem_stride=stride, return_indices=True,
        )
    assert idx.shape == (2, grid[0], top_k)
    assert torch.equal(idx, ref_idx)
    torch.testing.assert_close(out.detach(), ref, atol=1e-5, rtol=1e-5)


@pytest.mark.parametrize("chunk", [1, 2, 5, 100])
def test_chunking_does_not_change_the_result(gen, chunk):
    grid, mem_grid = (10, 3, 2), (5, 2, 1)
    q, k, v, km, vm = _inputs(gen(2), 1, grid, mem_grid)
    full = dynamic_retrieval_attention(q, k, v, km, vm, grid=grid, mem_grid=mem_grid, top_k=3, chunk_frames=100)
    part = dynamic_retrieval_attention(q, k, v, km, vm, grid=grid, mem_grid=mem_grid, top_k=3, chunk_frames=chunk)
    torch.testing.assert_close(part, full, atol=1e-6, rtol=1e-6)


def test_gradients_match_reference(gen):
    grid, mem_grid = (6, 2, 3), (3, 1, 2)
    tensors = [t.requires_grad_(True) for t in _inputs(gen(3), 2, grid, mem_grid)]
    out = dynamic_retrieval_attention(*tensors, grid=grid, mem_grid=mem_grid, top_k=1, window_size=3)
    grads = torch.autograd.grad(out.square().sum(), tensors)
    ref_tensors = [t.detach().clone().requires_grad_(True) for t in tensors]
    ref, _ = reference(*ref_tensors, grid, mem_grid, 1, 3, 2)
    ref_grads = torch.autograd.grad(ref.square().sum(), ref_tensors)
    for a, r in zip(grads, ref_grads):
        torch.testing.assert_close(a, r, atol=1e-5, rtol=1e-5)
    # memory tokens that were retrieved receive gradient, so the tokenizer trains
    assert grads[3].abs().sum() > 0


def test_window_covering_all_frames_without_memory_is_dense_attention(gen):
    grid = (5, 3, 3)
    q, k, v, _, _ = _inputs(gen(4), 2, grid, (1, 1, 1))
    out = dynamic_retrieval_attention(q, k, v, grid=grid, top_k=0, window_size=5)
    dense = F.scaled_dot_product_attention(q.transpose(1, 2), k.transpose(1, 2), v.transpose(1, 2)).transpose(1, 2)
    torch.testing.assert_close(out, dense, atol=1e-5, rtol=1e-5)


def test_ties_break_to_lowest_index_and_excluded_frames_are_padded():
    # 6 latent frames, window 3, stride 2: frame 0's window [0, 3) excludes memory frame 0 only.
    affinity = torch.zeros(1, 6, 3)
    idx = select_memory_frames(affinity, num_frames=6, top_k=3, window_size=3, mem_stride=2)
    assert idx[0, 0].tolist() == [1, 2, -1]
    assert idx[0, 3].tolist() == [0, 2, -1]  # window [2, 5) excludes memory frame 1 = frames [2, 4)
    affinity[0, :, 2] = 1.0
    idx = select_memory_frames(affinity, num_frames=6, top_k=1, window_size=3, mem_stride=2)
    # frames 4 and 5 (window [3, 6)) cannot take memory frame 2 = frames [4, 6): tie 0 vs 1 -> 0
    assert idx[0, :, 0].tolist() == [2, 2, 2, 2, 0, 0]


def test_non_finite_affinities_stay_eligible_after_the_finite_ones():
    nan, inf = float("nan"), float("inf")
    affinity = torch.tensor([[[5.0, nan, 1.0, -inf]]]).expand(1, 8, 4).clone()
    idx = select_memory_frames(affinity, num_frames=8, top_k=3, window_size=2, mem_stride=2)
    # frame 0's window [0, 2) excludes memory frame 0 however high it scores; finite scores first, then the
    # non-finite ones by index, and they are not crowded out by the excluded frame
    assert idx[0, 0].tolist() == [2, 1, 3]
    assert idx[0, 4].tolist() == [0, 2, 1]  # window [3, 5) excludes nothing: memory frame 2 = [4, 6) sticks out


def test_custom_affinity_and_representations(gen):
    grid, mem_grid = (6, 2, 2), (3, 1, 1)
    q, k, v, km, vm = _inputs(gen(5), 1, grid, mem_grid)
    affinity = torch.zeros(1, 6, 3)
    affinity[..., 1] = 5.0
    _, idx = dynamic_retrieval_attention(
        q, k, v, km, vm, grid=grid, mem_grid=mem_grid, top_k=1, window_size=1, affinity=affinity,
        return_indices=True,
    )
    assert idx[0, :, 0].tolist() == [1] * 6
    # frame-level representations give the same choice as the token-level ones they summarise
    _, a = dynamic_retrieval_attention(q, k, v, km, vm, grid=grid, mem_grid=mem_grid, top_k=2, window_size=1,
                                       return_indices=True)
    qr = q.reshape(1, 6, 4, -1).mean(2)
    _, b_ = dynamic_retrieval_attention(q, k, v, km, vm, grid=grid, mem_grid=mem_grid, top_k=2, window_size=1,
                                        q_repr=qr, return_indices=True)
    assert torch.equal(a, b_)


def test_local_window_bounds():
    start, end = local_window_bounds(40, 5)
    assert start[:4].tolist() == [0, 0, 0, 1] and start[-3:].tolist() == [35, 35, 35]
    assert torch.all(end - start == 5)
    start, end = local_window_bounds(3, 5)
    assert start.tolist() == [0, 0, 0] and end.tolist() == [3, 3, 3]


def test_shape_errors_are_clear(gen):
    q, k, v, km, vm = _inputs(gen(6), 1, (4, 2, 2), (2, 1, 1))
    with pytest.raises(ValueError, match="grid"):
        dynamic_retrieval_attention(q, k, v, km, vm, grid=(5, 2, 2), mem_grid=(2, 1, 1))
    with pytest.raises(ValueError, match="mem_grid"):
        dynamic_retrieval_attention(q, k, v, km, vm, grid=(4, 2, 2), mem_grid=(3, 1, 1))


def test_accepts_non_contiguous_inputs(gen):
    grid, mem_grid = (6, 2, 3), (3, 1, 2)
    q, k, v, km, vm = _inputs(gen(7), 1, grid, mem_grid)
    # [B, heads, N, d] storage transposed to the [B, N, heads, d] layout, as SDPA-style code often has
    qt, kt, vt = (x.transpose(1, 2).contiguous().transpose(1, 2) for x in (q, k, v))
    assert not qt.is_contiguous()
    for grad in (False, True):
        with torch.set_grad_enabled(grad):
            a = dynamic_retrieval_attention(qt.requires_grad_(grad), kt, vt, km, vm, grid=grid, mem_grid=mem_grid,
                                            top_k=2, window_size=3)
        b = dynamic_retrieval_attention(q, k, v, km, vm, grid=grid, mem_grid=mem_grid, top_k=2, window_size=3)
        torch.testing.assert_close(a.detach(), b)
        qt = qt.detach()
