"""Helpers for the Unreal tests. Kept here rather than imported from tests/conftest.py: `conftest` is not a
unique module name once other test folders add their own conftest.py."""
from __future__ import annotations

import os
import subprocess
import sys

from hydra import compose, initialize_config_module


def render_config(*overrides: str):
    """The `hmworld render` config exactly as the CLI would build it."""
    with initialize_config_module(config_module="hmworld.render_configs", version_base="1.3"):
        return compose(config_name="render", overrides=list(overrides))


def run_cli(*args: str, timeout: float = 300) -> subprocess.CompletedProcess:
    env = {**os.environ, "COLUMNS": "200"}
    proc = subprocess.run([sys.executable, "-m", "hmworld", *args], capture_output=True, text=True,
                          timeout=timeout, env=env)
    if proc.returncode != 0:
        raise AssertionError(f"hmworld {' '.join(args)} failed ({proc.returncode}):\n{proc.stdout}\n{proc.stderr}")
    return proc
