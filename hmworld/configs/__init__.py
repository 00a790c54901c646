"""Typed configs of every command and config group: dataclasses registered with Hydra's ConfigStore.

Each YAML file in render_configs/ is a preset that extends its schema (`defaults: [<name>_schema, ..., _self_]`;
a group option: `defaults: [schema_<option>, _self_]`), so Hydra checks the presets and the command line against
the fields here: a misspelled key is an error, not a silent default. Library code receives the typed objects.

Adding a config key is one change: a field (type, default, a short comment) on the dataclass of its section,
e.g. `RenderConfig.video` -> `VideoConfig` in render.py; the presets, `--help` and `--cfg job` follow. A preset
sets it only when it differs from the default.

Modules: model (the `model` group), render (render, caption; renderer, captioner, partition), training (cache,
train, generate, retrieval-view, study), benchmark (score, score-merge, leaderboard, predict-baseline, weights),
tools (import-hmworld, stats, ucv-sim). They import nothing heavy (no torch): every command registers them
before it parses its arguments.
"""
from __future__ import annotations

from typing import Any

_registered = False


def typed(schema: type, cfg: Any):
    """`cfg` (a composed config, or a partial dict/DictConfig a caller built) merged over `schema`'s defaults: a
    typed DictConfig whose fields are all present; an unknown key or a wrong type is a ConfigError naming it."""
    from omegaconf import OmegaConf
    from omegaconf.errors import OmegaConfBaseException

    from hmworld.errors import ConfigError

    try:
        return OmegaConf.merge(OmegaConf.structured(schema), cfg if cfg is not None else {})
    except OmegaConfBaseException as exc:
        raise ConfigError(f"{schema.__name__}: {str(exc).strip().splitlines()[0]}") from exc


def open_free_dicts(cfg) -> None:
    """Let a merge add keys to the free-form Dict[str, Any] fields (e.g. `trainer`, `renderer.runtime`), as
    `+key=value` can on the command line, while the dataclass sections stay closed to unknown keys."""
    from omegaconf import DictConfig, OmegaConf

    for key in list(cfg.keys()) if isinstance(cfg, DictConfig) else []:
        node = cfg._get_node(key)
        if isinstance(node, DictConfig) and not node._is_missing() and not node._is_none():
            if OmegaConf.get_type(node) is dict:
                OmegaConf.set_struct(node, False)
            else:
                open_free_dicts(node)


def register() -> None:
    """Store every schema in Hydra's ConfigStore (idempotent). render_configs/__init__.py calls it, so any
    composition of those configs (the commands, hydra.compose in tests and in the study) sees the schemas."""
    global _registered
    if _registered:
        return
    from hydra.core.config_store import ConfigStore

    from . import benchmark, model, render, tools, training

    cs = ConfigStore.instance()
    for module in (model, render, training, benchmark, tools):
        for group, name, node in module.SCHEMAS:
            cs.store(group=group, name=name, node=node)
    _registered = True
