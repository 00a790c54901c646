"""HyDRA's self-attention as a diffusers attention processor module.

The processor is an ``nn.Module`` plugged into each block's ``attn1`` (``WanAttention``); it owns the HyDRA
parameters (camera encoders, projector, memory tokenizer), so they live under ``blocks.N.attn1.processor.*`` and
save/load with the model, while the Wan projections (``to_q/to_k/to_v/to_out``, ``norm_q/norm_k``) stay where
diffusers keeps them and Wan checkpoints load unchanged.
"""
from __future__ import annotations

from dataclasses import dataclass, field

import torch
import torch.nn as nn
import torch.nn.functional as F

from .retrieval import dynamic_retrieval_attention
from .rope import apply_rotary_emb
from .tokenizer import MemoryTokenizer

RETRIEVAL_MODES = ("dynamic", "fov", "full", "local")


@dataclass
class HyDRAAttentionContext:
    """Per-forward inputs every block's processor needs; built once by the model, shared by all blocks."""

    grid: tuple[int, int, int]
    num_context_frames: int
    camera: torch.Tensor | None = None  # [B, F, camera_dim]
    memory_rotary_emb: tuple[torch.Tensor, torch.Tensor] | None = None
    fov_affinity: torch.Tensor | None = None  # [B, F, Fm], fov mode only
    retrieval_log: dict | None = None  # block index -> [B, F, top_k] retrieved memory frames
    block_index: int = 0
    extra: dict = field(default_factory=dict)


class HyDRAAttnProcessor(nn.Module):
    """Self-attention with camera injection, memory tokenization and retrieval (modes: dynamic, fov, full, local).

    * camera: ``camera_dim`` numbers per latent frame -> ``cam_encoder_con`` (context frames) or
      ``cam_encoder_tgt`` (target frames), zero-initialised, added to the attention input only (broadcast over
      height and width), not to the residual stream.
    * ``projector``: identity-initialised linear layer after the output projection (before the block's gate).
    * ``dynamic``/``fov``: local window + top-k memory frames (ranked by q/k affinity or by FOV overlap);
      ``local``: window only; ``full``: dense attention over all tokens (the paper's Baseline). ``full`` and
      ``local`` have no tokenizer.
    """

    def __init__(
        self,
        dim: int,
        retrieval_mode: str = "dynamic",
        top_k: int = 10,
        window_size: int = 5,
        memory_kernel: tuple[int, int, int] = (2, 2, 2),
        camera_dim: int = 12,
    ):
        super().__init__()
        if retrieval_mode not in RETRIEVAL_MODES:
            raise ValueError(f"retrieval_mode must be one of {RETRIEVAL_MODES}, got {retrieval_mode!r}")
        self.retrieval_mode = retrieval_mode
        self.top_k = int(top_k)
        self.window_size = int(window_size)
        self.memory_kernel = tuple(int(k) for k in memory_kernel)
        self.cam_encoder_con = nn.Linear(camera_dim, dim)
        self.cam_encoder_tgt = nn.Linear(camera_dim, dim)
        self.projector = nn.Linear(dim, dim)
        self.tokenizer = MemoryTokenizer(dim, self.memory_kernel) if self.uses_memory else None
        self.reset_parameters()

    @property
    def uses_memory(self) -> bool:
        return self.retrieval_mode in ("dynamic", "fov")

    @torch.no_grad()
    def reset_parameters(self, generator: torch.Generator | None = None) -> None:
        # Zero camera encoders + identity projector: a fresh HyDRA block computes what the Wan block did.
        for lin in (self.cam_encoder_con, self.cam_encoder_tgt):
            lin.weight.zero_()
            lin.bias.zero_()
        self.projector.weight.copy_(torch.eye(self.projector.weight.shape[0]))
        self.projector.bias.zero_()
        if self.tokenizer is not None:
            self.tokenizer.reset_parameters(generator)

    def camera_embedding(self, camera: torch.Tensor, num_context_frames: int) -> torch.Tensor:
        """``[B, F, camera_dim]`` -> ``[B, F, dim]`` (context encoder for the first frames, target for the rest)."""
        cam = camera.to(self.cam_encoder_con.weight.dtype)
        ctx = self.cam_encoder_con(cam[:, :num_context_frames])
        tgt = self.cam_encoder_tgt(cam[:, num_context_frames:])
        return torch.cat([ctx, tgt], dim=1)

    def forward(
        self,
        attn,
        hidden_states: torch.Tensor,
        encoder_hidden_states: torch.Tensor | None = None,
        attention_mask: torch.Tensor | None = None,
        rotary_emb: tuple[torch.Tensor, torch.Tensor] | None = None,
        context: HyDRAAttentionContext | None = None,
    ) -> torch.Tensor:
        if encoder_hidden_states is not None or attention_mask is not None:
            raise ValueError("HyDRAAttnProcessor is a self-attention processor (no encoder states, no mask)")
        if context is None:
            raise ValueError("HyDRAAttnProcessor needs a HyDRAAttentionContext (call it through HyDRATransformer3DModel)")
        b, n, c = hidden_states.shape
        nf, h, w = context.grid
        x = hidden_states
        if context.camera is not None:
            emb = self.camera_embedding(context.camera, context.num_context_frames)
            x = (x.view(b, nf, h * w, c) + emb[:, :, None, :].to(x.dtype)).view(b, n, c)

        heads = attn.heads
        q = attn.norm_q(attn.to_q(x)).unflatten(2, (heads, -1))
        k = attn.norm_k(attn.to_k(x)).unflatten(2, (heads, -1))
        v = attn.to_v(x).unflatten(2, (heads, -1))
        q_pre = q
        if rotary_emb is not None:
            q, k = apply_rotary_emb(q, *rotary_emb), apply_rotary_emb(k, *rotary_emb)

        if self.retrieval_mode == "full":
            out = F.scaled_dot_product_attention(q.transpose(1, 2), k.transpose(1, 2), v.transpose(1, 2)).transpose(1, 2)
        elif self.retrieval_mode == "local":
            out = dynamic_retrieval_attention(q, k, v, grid=context.grid, top_k=0, window_size=self.window_size)
        else:
            mem, mem_grid = self.tokenizer(x, context.grid)
            # Memory tokens go through the same key/value projections (and key norm) as ordinary tokens.
            k_mem = attn.norm_k(attn.to_k(mem.to(x.dtype))).unflatten(2, (heads, -1))
            v_mem = attn.to_v(mem.to(x.dtype)).unflatten(2, (heads, -1))
            k_mem_pre = k_mem
            if context.memory_rotary_emb is not None:
                k_mem = apply_rotary_emb(k_mem, *context.memory_rotary_emb)
            affinity = None
            if self.retrieval_mode == "fov":
                if context.fov_affinity is None:
                    raise ValueError("retrieval_mode='fov' needs camera poses (pass camera= to the model)")
                affinity = context.fov_affinity
            out, indices = dynamic_retrieval_attention(
                q, k, v, k_mem, v_mem, grid=context.grid, mem_grid=mem_grid, top_k=self.top_k,
                window_size=self.window_size, mem_stride=self.memory_kernel[0], q_repr=q_pre,
                k_mem_repr=k_mem_pre, affinity=affinity, return_indices=True,
            )
            if context.retrieval_log is not None:
                context.retrieval_log[context.block_index] = indices

        out = out.flatten(2, 3).type_as(x)
        out = attn.to_out[0](out)
        out = attn.to_out[1](out)
        return self.projector(out)
