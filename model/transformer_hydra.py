"""HyDRA transformer: diffusers' WanTransformer3DModel with HyDRA self-attention processors."""
from __future__ import annotations

import dataclasses
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
import torch.nn as nn
from diffusers.configuration_utils import register_to_config
from diffusers.models.transformers.transformer_wan import (
    WanRotaryPosEmbed,
    WanTransformer3DModel,
    WanTransformerBlock,
)
from diffusers.utils import BaseOutput, apply_lora_scale

from .checkpoint import (
    WAN21_T2V_1_3B_CONFIG,
    load_hydra_checkpoint,
    load_state_dict_file,
    load_wan_weights,
    read_wan_config,
)
from .attention_processor import RETRIEVAL_MODES, HyDRAAttentionContext, HyDRAAttnProcessor
from .fov import fov_memory_affinity
from .rope import memory_rotary_emb


@dataclass
class HyDRATransformerOutput(BaseOutput):
    """``sample`` as Wan's output; ``retrieval_indices``: per block ``[B, F, top_k]`` memory frames read (-1 none)."""

    sample: torch.Tensor
    retrieval_indices: list[torch.Tensor] | None = None


class HyDRATransformerBlock(WanTransformerBlock):
    """Wan block whose self-attention processor is a `HyDRAAttnProcessor`.

    The forward is Wan's (same modulation, gates and float32 islands) except that the per-forward HyDRA
    context reaches the processor: diffusers' block does not forward extra arguments to ``attn1``.
    """

    def __init__(self, dim, ffn_dim, num_heads, qk_norm, cross_attn_norm, eps, added_kv_proj_dim, processor_kwargs):
        super().__init__(dim, ffn_dim, num_heads, qk_norm, cross_attn_norm, eps, added_kv_proj_dim)
        self.attn1.set_processor(HyDRAAttnProcessor(dim, **processor_kwargs))

    def forward(self, hidden_states, encoder_hidden_states, temb, rotary_emb, context: HyDRAAttentionContext = None):
        if temb.ndim == 4:  # per-token timesteps: [B, N, 6, C]
            mod = (self.scale_shift_table.unsqueeze(0) + temb.float()).chunk(6, dim=2)
            mod = [m.squeeze(2) for m in mod]
        else:  # [B, 6, C]
            mod = (self.scale_shift_table + temb.float()).chunk(6, dim=1)
        shift_msa, scale_msa, gate_msa, c_shift_msa, c_scale_msa, c_gate_msa = mod

        norm_x = (self.norm1(hidden_states.float()) * (1 + scale_msa) + shift_msa).type_as(hidden_states)
        attn_out = self.attn1(norm_x, None, None, rotary_emb, context=context)
        hidden_states = (hidden_states.float() + attn_out * gate_msa).type_as(hidden_states)

        norm_x = self.norm2(hidden_states.float()).type_as(hidden_states)
        hidden_states = hidden_states + self.attn2(norm_x, encoder_hidden_states, None, None)

        norm_x = (self.norm3(hidden_states.float()) * (1 + c_scale_msa) + c_shift_msa).type_as(hidden_states)
        ff = self.ffn(norm_x)
        return (hidden_states.float() + ff.float() * c_gate_msa).type_as(hidden_states)


class HyDRATransformer3DModel(WanTransformer3DModel):
    r"""Wan2.1 DiT with HyDRA's camera injection, memory tokenizer and retrieval attention.

    Takes the Wan arguments (defaults: Wan2.1-T2V-1.3B) plus:
        retrieval_mode: ``"dynamic"`` (HyDRA), ``"fov"`` (memory frames ranked by camera FOV overlap),
            ``"full"`` (dense attention over all tokens, the paper's Baseline), ``"local"`` (window only).
        top_k: memory frames retrieved per latent frame (paper: 10).
        window_size: local window in latent frames (paper: 5).
        memory_kernel: tokenizer kernel = stride (time, height, width); released checkpoint (2, 2, 2), paper's
            best (2, 4, 4).
        camera_dim: numbers per latent frame's camera vector (12: the relative 3x4 pose, row-major).
        fov_hfov_deg, fov_depths: the FOV-overlap estimate's horizontal field of view and sample depths (metres).

    Inputs are context latents followed by target latents along time; ``camera`` is ``[B, F, camera_dim]`` per
    latent frame and ``num_context_frames`` (default F // 2) says where the target starts.
    """

    _no_split_modules = ["HyDRATransformerBlock"]
    _repeated_blocks = ["HyDRATransformerBlock"]

    @register_to_config
    def __init__(
        self,
        patch_size: tuple[int, ...] = (1, 2, 2),
        num_attention_heads: int = 12,
        attention_head_dim: int = 128,
        in_channels: int = 16,
        out_channels: int = 16,
        text_dim: int = 4096,
        freq_dim: int = 256,
        ffn_dim: int = 8960,
        num_layers: int = 30,
        cross_attn_norm: bool = True,
        qk_norm: str | None = "rms_norm_across_heads",
        eps: float = 1e-6,
        image_dim: int | None = None,
        added_kv_proj_dim: int | None = None,
        rope_max_seq_len: int = 1024,
        pos_embed_seq_len: int | None = None,
        retrieval_mode: str = "dynamic",
        top_k: int = 10,
        window_size: int = 5,
        memory_kernel: tuple[int, int, int] = (2, 2, 2),
        camera_dim: int = 12,
        fov_hfov_deg: float = 90.0,
        fov_depths: tuple[float, ...] = (1.0, 2.0, 4.0, 8.0, 16.0),
    ) -> None:
        # Build Wan without blocks (ours replace them), then restore the real layer count in the config.
        super().__init__(
            patch_size=patch_size, num_attention_heads=num_attention_heads, attention_head_dim=attention_head_dim,
            in_channels=in_channels, out_channels=out_channels, text_dim=text_dim, freq_dim=freq_dim,
            ffn_dim=ffn_dim, num_layers=0, cross_attn_norm=cross_attn_norm, qk_norm=qk_norm, eps=eps,
            image_dim=image_dim, added_kv_proj_dim=added_kv_proj_dim, rope_max_seq_len=rope_max_seq_len,
            pos_embed_seq_len=pos_embed_seq_len,
        )
        self.register_to_config(num_layers=num_layers)
        if retrieval_mode not in RETRIEVAL_MODES:
            raise ValueError(f"retrieval_mode must be one of {RETRIEVAL_MODES}, got {retrieval_mode!r}")
        inner_dim = num_attention_heads * attention_head_dim
        processor_kwargs = dict(
            retrieval_mode=retrieval_mode, top_k=top_k, window_size=window_size,
            memory_kernel=tuple(memory_kernel), camera_dim=camera_dim,
        )
        self.blocks = nn.ModuleList(
            [
                HyDRATransformerBlock(
                    inner_dim, ffn_dim, num_attention_heads, qk_norm, cross_attn_norm, eps, added_kv_proj_dim,
                    processor_kwargs,
                )
                for _ in range(num_layers)
            ]
        )
        self._memory_rope_cache: dict = {}

    # ------------------------------------------------------------------ loading
    HYDRA_CONFIG_KEYS = ("retrieval_mode", "top_k", "window_size", "memory_kernel", "camera_dim", "fov_hfov_deg",
                         "fov_depths")

    @classmethod
    def from_pretrained(cls, pretrained_model_name_or_path, **kwargs):
        """diffusers' loader for saved HyDRA models; a Wan transformer folder goes to `from_wan_pretrained`.

        So ``HyDRATransformer3DModel.from_pretrained("Wan2.1-T2V-1.3B-Diffusers", subfolder="transformer",
        retrieval_mode="dynamic")`` builds HyDRA on the local Wan weights.
        """
        folder = Path(pretrained_model_name_or_path) / (kwargs.get("subfolder") or "")
        if (folder / "config.json").is_file():
            raw = json.loads((folder / "config.json").read_text())
            if raw.get("_class_name") != cls.__name__:
                extra = {k: kwargs.pop(k) for k in list(kwargs) if k in cls.HYDRA_CONFIG_KEYS + ("hydra_checkpoint", "generator")}
                dtype = kwargs.pop("torch_dtype", None) or torch.bfloat16
                unknown = set(kwargs) - {"subfolder"}
                if unknown:
                    raise TypeError(f"unsupported arguments when building HyDRA from Wan weights: {sorted(unknown)}")
                return cls.from_wan_pretrained(folder, torch_dtype=dtype, **extra)
        return super().from_pretrained(pretrained_model_name_or_path, **kwargs)

    @classmethod
    def from_wan_pretrained(
        cls,
        path: str | Path,
        *,
        torch_dtype: torch.dtype = torch.bfloat16,
        hydra_checkpoint: str | Path | dict | None = None,
        config: dict | None = None,
        generator: torch.Generator | None = None,
        device: str | torch.device = "cpu",
        **hydra_config,
    ) -> "HyDRATransformer3DModel":
        """Build HyDRA on local Wan2.1 transformer weights, optionally with a released HyDRA checkpoint on top.

        ``path``: a Wan transformer folder (diffusers or original format, with its config.json) or a weights
        file (original config.json beside it, or the Wan2.1-T2V-1.3B config). The model is built on the meta
        device and the weights are assigned, so no memory goes to a throw-away random init; HyDRA modules
        absent from the Wan weights get their designed init (zero camera encoders, identity projector,
        ``generator``-seeded tokenizer). bf16 by default, as the project loads large models.
        """
        path = Path(path)
        folder = path if path.is_dir() else path.parent
        if not path.exists():
            raise FileNotFoundError(f"Wan transformer weights not found: {path}")
        if config is None:
            config = read_wan_config(folder) if (folder / "config.json").is_file() else dict(WAN21_T2V_1_3B_CONFIG)
        state_dict = load_state_dict_file(path)
        with torch.device("meta"):
            model = cls(**config, **hydra_config)
        load_wan_weights(model, state_dict, source=str(path), dtype=torch_dtype)
        for proc in model.processors:
            proc.to_empty(device="cpu")
            proc.reset_parameters(generator)
            proc.to(torch_dtype)
        # RoPE tables are buffers computed at construction: rebuild them off the meta device.
        cfg = model.config
        model.rope = WanRotaryPosEmbed(cfg.attention_head_dim, tuple(cfg.patch_size), cfg.rope_max_seq_len)
        left = [n for n, t in list(model.named_parameters()) + list(model.named_buffers()) if t.device.type == "meta"]
        if left:
            raise RuntimeError(f"tensors left uninitialised after loading {path}: {left[:8]}")
        if hydra_checkpoint is not None:
            load_hydra_checkpoint(model, hydra_checkpoint, dtype=torch_dtype)
        return model.to(device).eval()

    # ------------------------------------------------------------------ modes
    @property
    def processors(self) -> list[HyDRAAttnProcessor]:
        return [block.attn1.processor for block in self.blocks]

    def set_retrieval_mode(self, mode: str, top_k: int | None = None, window_size: int | None = None) -> None:
        """Switch every block's retrieval mode (e.g. evaluate a ``dynamic`` checkpoint with ``fov`` ranking).

        ``dynamic`` and ``fov`` need the memory tokenizer, so a model built as ``full``/``local`` cannot switch
        to them (its tokenizer was never trained).
        """
        if mode not in RETRIEVAL_MODES:
            raise ValueError(f"retrieval_mode must be one of {RETRIEVAL_MODES}, got {mode!r}")
        for proc in self.processors:
            if mode in ("dynamic", "fov") and proc.tokenizer is None:
                raise ValueError(f"cannot switch to {mode!r}: this model was built without a memory tokenizer")
            proc.retrieval_mode = mode
            if top_k is not None:
                proc.top_k = int(top_k)
            if window_size is not None:
                proc.window_size = int(window_size)
        updates = {"retrieval_mode": mode}
        if top_k is not None:
            updates["top_k"] = int(top_k)
        if window_size is not None:
            updates["window_size"] = int(window_size)
        self.register_to_config(**updates)

    def hydra_trainable_parameters(self):
        """(name, parameter) pairs the released recipe trains: each block's self-attention (Wan's projections and
        norms plus the processor's camera encoders, projector and tokenizer); everything else stays frozen."""
        return [(n, p) for n, p in self.named_parameters() if ".attn1." in n]

    def _memory_rope(self, mem_grid, device):
        kernel = tuple(self.config.memory_kernel)
        key = (tuple(mem_grid), kernel, str(device))
        if key not in self._memory_rope_cache:  # built once per grid, not per block or per call
            self._memory_rope_cache[key] = memory_rotary_emb(mem_grid, kernel, self.config.attention_head_dim, device)
        return self._memory_rope_cache[key]

    # ------------------------------------------------------------------ forward
    @apply_lora_scale("attention_kwargs")
    def forward(
        self,
        hidden_states: torch.Tensor,
        timestep: torch.Tensor,
        encoder_hidden_states: torch.Tensor,
        camera: torch.Tensor | None = None,
        num_context_frames: int | None = None,
        encoder_hidden_states_image: torch.Tensor | None = None,
        return_dict: bool = True,
        attention_kwargs: dict[str, Any] | None = None,
        return_retrieval_indices: bool = False,
    ):
        """``hidden_states`` ``[B, C, F, H, W]`` latents (context then target), ``timestep`` ``[B]`` or ``[B, N]``."""
        b, _, num_frames, height, width = hidden_states.shape
        p_t, p_h, p_w = self.config.patch_size
        grid = (num_frames // p_t, height // p_h, width // p_w)
        if num_context_frames is None:
            num_context_frames = grid[0] // 2
        if not 0 <= num_context_frames <= grid[0]:
            raise ValueError(f"num_context_frames={num_context_frames} outside [0, {grid[0]}]")
        if camera is not None and tuple(camera.shape) != (b, grid[0], self.config.camera_dim):
            raise ValueError(
                f"camera must be [batch, latent frames, {self.config.camera_dim}] = "
                f"{(b, grid[0], self.config.camera_dim)}, got {tuple(camera.shape)}"
            )

        rotary_emb = self.rope(hidden_states)
        x = self.patch_embedding(hidden_states).flatten(2).transpose(1, 2).contiguous()

        ts_seq_len = None
        if timestep.ndim == 2:
            ts_seq_len = timestep.shape[1]
            timestep = timestep.flatten()
        temb, timestep_proj, encoder_hidden_states, encoder_hidden_states_image = self.condition_embedder(
            timestep, encoder_hidden_states, encoder_hidden_states_image, timestep_seq_len=ts_seq_len
        )
        timestep_proj = timestep_proj.unflatten(2 if ts_seq_len is not None else 1, (6, -1))
        if encoder_hidden_states_image is not None:
            encoder_hidden_states = torch.concat([encoder_hidden_states_image, encoder_hidden_states], dim=1)

        context = self._attention_context(grid, num_context_frames, camera, return_retrieval_indices, x.device)
        for i, block in enumerate(self.blocks):
            ctx = dataclasses.replace(context, block_index=i)
            if torch.is_grad_enabled() and self.gradient_checkpointing:
                x = self._gradient_checkpointing_func(block, x, encoder_hidden_states, timestep_proj, rotary_emb, ctx)
            else:
                x = block(x, encoder_hidden_states, timestep_proj, rotary_emb, ctx)

        if temb.ndim == 3:
            shift, scale = (self.scale_shift_table.unsqueeze(0).to(temb.device) + temb.unsqueeze(2)).chunk(2, dim=2)
            shift, scale = shift.squeeze(2), scale.squeeze(2)
        else:
            shift, scale = (self.scale_shift_table.to(temb.device) + temb.unsqueeze(1)).chunk(2, dim=1)
        x = (self.norm_out(x.float()) * (1 + scale.to(x.device)) + shift.to(x.device)).type_as(x)
        x = self.proj_out(x)
        x = x.reshape(b, *grid, p_t, p_h, p_w, -1).permute(0, 7, 1, 4, 2, 5, 3, 6)
        output = x.flatten(6, 7).flatten(4, 5).flatten(2, 3)

        indices = None
        if context.retrieval_log is not None:
            indices = [context.retrieval_log[i] for i in sorted(context.retrieval_log)]
        if not return_dict:
            return (output, indices) if return_retrieval_indices else (output,)
        return HyDRATransformerOutput(sample=output, retrieval_indices=indices)

    def _attention_context(self, grid, num_context_frames, camera, log_indices, device) -> HyDRAAttentionContext:
        procs = self.processors
        modes = {p.retrieval_mode for p in procs}
        mem_rope, fov_aff = None, None
        if modes & {"dynamic", "fov"}:
            tok = next(p.tokenizer for p in procs if p.tokenizer is not None)
            mem_grid = tok.output_grid(grid)
            mem_rope = self._memory_rope(mem_grid, device)
            if "fov" in modes:
                if camera is None:
                    raise ValueError("retrieval_mode='fov' ranks memory by camera overlap: pass camera=")
                fov_aff = fov_memory_affinity(
                    camera.float(), mem_grid[0], tok.kernel[0], aspect=grid[2] / grid[1],
                    hfov_deg=self.config.fov_hfov_deg, depths=tuple(self.config.fov_depths),
                )
        return HyDRAAttentionContext(
            grid=grid, num_context_frames=num_context_frames, camera=camera, memory_rotary_emb=mem_rope,
            fov_affinity=fov_aff, retrieval_log={} if log_indices else None,
        )
