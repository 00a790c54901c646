"""HyDRA (Hybrid Dynamic Retrieval Attention, arXiv 2603.25716) and its baselines on diffusers' Wan2.1 DiT.

Public surface:
    HyDRATransformer3DModel   the transformer (modes: dynamic | fov | full | local)
    HyDRAAttnProcessor        the self-attention processor module it plugs into each block
    dynamic_retrieval_attention  the functional attention core
    camera_input / relative_camera_vectors / load_released_camera_json   camera conditioning
    load_hydra_checkpoint / load_wan_weights   checkpoint mapping
"""
from .attention_processor import RETRIEVAL_MODES, HyDRAAttentionContext, HyDRAAttnProcessor
from .camera import camera_input, load_released_camera_json, relative_camera_vectors
from .checkpoint import (
    WAN21_T2V_1_3B_CONFIG,
    CheckpointMismatchError,
    hydra_to_diffusers,
    load_hydra_checkpoint,
    load_wan_weights,
    wan_to_diffusers,
)
from .retrieval import dynamic_retrieval_attention, select_memory_frames
from .tokenizer import MemoryTokenizer
from .transformer_hydra import HyDRATransformer3DModel, HyDRATransformerBlock, HyDRATransformerOutput

__all__ = [
    "RETRIEVAL_MODES",
    "WAN21_T2V_1_3B_CONFIG",
    "CheckpointMismatchError",
    "HyDRAAttentionContext",
    "HyDRAAttnProcessor",
    "HyDRATransformer3DModel",
    "HyDRATransformerBlock",
    "HyDRATransformerOutput",
    "MemoryTokenizer",
    "camera_input",
    "dynamic_retrieval_attention",
    "hydra_to_diffusers",
    "load_hydra_checkpoint",
    "load_released_camera_json",
    "load_wan_weights",
    "relative_camera_vectors",
    "select_memory_frames",
    "wan_to_diffusers",
]
