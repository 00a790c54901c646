"""Helpers shared by every test area: Hydra-composed render configs and running the `hmworld` CLI."""
from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from hydra import compose, initialize_config_module

# The two shared split sizes (tests/conftest.py renders one split of each per session).
SMALL = ["video.width=160", "video.height=96", "video.context_frames=21", "video.target_frames=21"]
TINY = ["video.width=64", "video.height=64", "video.context_frames=21", "video.target_frames=21"]
HMWORLD = [sys.executable, "-m", "hmworld"]
ROOT = Path(__file__).resolve().parents[1]   # the repository


def render_config(*overrides: str):
    """The `hmworld render` config exactly as the CLI would build it."""
    with initialize_config_module(config_module="hmworld.render_configs", version_base="1.3"):
        return compose(config_name="render", overrides=list(overrides))


def run_cli(*args: str, check: bool = True, timeout: float = 300, env: dict | None = None) -> subprocess.CompletedProcess:
    """Run `hmworld ARGS` in a child process (wide COLUMNS so that messages are not wrapped)."""
    e = {**os.environ, "COLUMNS": "200", **(env or {})}
    proc = subprocess.run([*HMWORLD, *args], capture_output=True, text=True, timeout=timeout, env=e)
    if check and proc.returncode != 0:
        raise AssertionError(f"hmworld {' '.join(args)} failed ({proc.returncode}):\n{proc.stdout}\n{proc.stderr}")
    return proc
