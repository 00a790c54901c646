"""HyDRA (Hybrid Dynamic Retrieval Attention) and its baselines on diffusers' Wan2.1 transformer."""
from .retrieval import dynamic_retrieval_attention, select_memory_frames

__all__ = ["dynamic_retrieval_attention", "select_memory_frames"]
