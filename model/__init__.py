"""HyDRA (Hybrid Dynamic Retrieval Attention, arXiv 2603.25716) and its baselines on diffusers' Wan2.1 DiT.

Public surface:
    HyDRATransformer3DModel   the transformer (modes: dynamic | fov | full | local)
    HyDRAAttnProcessor        the self-attention processor module it plugs into each block
    dynamic_retrieval_attention  the functional attention core
    camera_input / relative_camera_vectors / load_released_camera_json   camera conditioning
    load_hydra_checkpoint / load_wan_weights   checkpoint mapping
"""
from typing import TYPE_CHECKING

from hmworld.lazy import lazy_exports

# Written once here for editors and type checkers; at run time each name is imported on first use.
if TYPE_CHECKING:
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

__getattr__, __dir__, __all__ = lazy_exports(globals())
