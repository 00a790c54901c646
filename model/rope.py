"""Rotary embeddings at arbitrary (fractional) grid positions, in diffusers' Wan layout.

diffusers' `WanRotaryPosEmbed` only tabulates integer positions. Memory tokens sit at compressed positions
(time ``kt*f + (kt-1)/2``, i.e. ``2f + 0.5`` for a temporal stride of 2, the centre of the frames they summarise;
height ``kh*y`` and width ``kw*x``, the first row/column they cover, as in the released code). The frequency
split (time/height/width) and interleaving match `WanRotaryPosEmbed`, so a memory token at an integer
position gets exactly the rotation an ordinary token there gets.
"""
from __future__ import annotations

import torch
from diffusers.models.embeddings import get_1d_rotary_pos_embed


def rope_split(head_dim: int) -> tuple[int, int, int]:
    """(time, height, width) channel split used by Wan: 44/42/42 for head_dim 128."""
    hw = 2 * (head_dim // 6)
    return head_dim - 2 * hw, hw, hw


def rope_at_positions(
    t: torch.Tensor, y: torch.Tensor, x: torch.Tensor, head_dim: int, theta: float = 10000.0
) -> tuple[torch.Tensor, torch.Tensor]:
    """cos/sin ``[1, N, 1, head_dim]`` (float32) for tokens at positions (t, y, x) given per token ``[N]``."""
    parts_cos, parts_sin = [], []
    for pos, dim in zip((t, y, x), rope_split(head_dim)):
        cos, sin = get_1d_rotary_pos_embed(
            dim, pos.to(torch.float64), theta, use_real=True, repeat_interleave_real=True, freqs_dtype=torch.float64
        )
        parts_cos.append(cos)
        parts_sin.append(sin)
    cos = torch.cat(parts_cos, dim=-1).float()[None, :, None, :]
    sin = torch.cat(parts_sin, dim=-1).float()[None, :, None, :]
    return cos, sin


def grid_positions(grid, scale=(1.0, 1.0, 1.0), offset=(0.0, 0.0, 0.0), device=None):
    """Per-token (t, y, x) positions ``[N]`` of a frame-major grid, scaled and offset per axis."""
    axes = [torch.arange(int(s), dtype=torch.float64, device=device) * sc + of for s, sc, of in zip(grid, scale, offset)]
    t, y, x = torch.meshgrid(*axes, indexing="ij")
    return t.reshape(-1), y.reshape(-1), x.reshape(-1)


def memory_rotary_emb(mem_grid, kernel, head_dim: int, device=None, theta: float = 10000.0):
    """RoPE tables for memory tokens produced by a tokenizer with kernel == stride ``kernel``."""
    kt, kh, kw = kernel
    t, y, x = grid_positions(mem_grid, scale=(kt, kh, kw), offset=((kt - 1) / 2.0, 0.0, 0.0), device=device)
    return rope_at_positions(t, y, x, head_dim, theta)


def apply_rotary_emb(x: torch.Tensor, cos: torch.Tensor, sin: torch.Tensor) -> torch.Tensor:
    """Rotate interleaved channel pairs of ``x`` ``[B, N, heads, D]`` (Wan's convention), in float32."""
    x1, x2 = x.float().unflatten(-1, (-1, 2)).unbind(-1)
    c, s = cos[..., 0::2], sin[..., 1::2]
    return torch.stack((x1 * c - x2 * s, x1 * s + x2 * c), dim=-1).flatten(-2).type_as(x)
