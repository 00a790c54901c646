"""Helpers for the captioner tests."""
from __future__ import annotations

# 64x48, 21 + 21 frames: the smallest clips the renderer makes quickly; captioners only need real videos.
TINY_VIDEO = ["video.width=64", "video.height=48", "video.context_frames=21", "video.target_frames=21"]


def caption_config(*overrides: str):
    """The `hmworld caption` config exactly as the CLI builds it."""
    from hydra import compose, initialize_config_module

    with initialize_config_module(config_module="hmworld.render_configs", version_base="1.3"):
        return compose(config_name="caption", overrides=list(overrides))
