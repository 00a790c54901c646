"""Loading Wan2.1 and released HyDRA weights into `HyDRATransformer3DModel`.

Three sources, all from local files (nothing here downloads):

* Wan2.1 in diffusers format: a folder with ``config.json`` (``_class_name: WanTransformer3DModel``) and
  ``diffusion_pytorch_model*.safetensors`` (e.g. ``Wan2.1-T2V-1.3B-Diffusers/transformer``).
* Wan2.1 in the original format: ``diffusion_pytorch_model.safetensors`` with keys ``blocks.N.self_attn.q.weight``
  ... and the original ``config.json`` (``dim``, ``num_heads`` ...); keys go through diffusers' own converter
  ``convert_wan_transformer_to_diffusers``.
* The released HyDRA checkpoint (DiffSynth-style keys: the original Wan names plus
  ``blocks.N.self_attn.tokenizer.conv.*``, ``blocks.N.cam_encoder_tgt.*``, ``blocks.N.cam_encoder_con.*``,
  ``blocks.N.projector.*``), full or holding only the trained modules, loaded on top of a Wan base.

Every mismatch is an error that names the keys (missing, unexpected, wrong shape) and the file.
"""
from __future__ import annotations

import json
import re
from pathlib import Path

import torch

# Released HyDRA names -> where this model keeps them (the processor owns the HyDRA modules).
_HYDRA_RENAMES = (
    (re.compile(r"^blocks\.(\d+)\.cam_encoder_(tgt|con)\.(weight|bias)$"), r"blocks.\1.attn1.processor.cam_encoder_\2.\3"),
    (re.compile(r"^blocks\.(\d+)\.projector\.(weight|bias)$"), r"blocks.\1.attn1.processor.projector.\2"),
    (re.compile(r"^blocks\.(\d+)\.self_attn\.tokenizer\.conv\.(weight|bias)$"), r"blocks.\1.attn1.processor.tokenizer.conv.\2"),
)
# Wrappers training frameworks put around the state dict keys (DiffSynth pipelines, Lightning, DDP).
_PREFIXES = ("module.", "model.diffusion_model.", "pipe.dit.", "dit.", "denoising_model.", "model.")
_WEIGHT_NAMES = ("diffusion_pytorch_model.safetensors", "model.safetensors")
_INDEX_NAMES = ("diffusion_pytorch_model.safetensors.index.json", "model.safetensors.index.json")

# Wan2.1-T2V-1.3B transformer (diffusers config names).
WAN21_T2V_1_3B_CONFIG = dict(
    patch_size=(1, 2, 2), num_attention_heads=12, attention_head_dim=128, in_channels=16, out_channels=16,
    text_dim=4096, freq_dim=256, ffn_dim=8960, num_layers=30, cross_attn_norm=True,
    qk_norm="rms_norm_across_heads", eps=1e-6, image_dim=None, added_kv_proj_dim=None, rope_max_seq_len=1024,
)
WAN_CONFIG_KEYS = tuple(WAN21_T2V_1_3B_CONFIG) + ("pos_embed_seq_len",)


class CheckpointMismatchError(RuntimeError):
    """A state dict does not fit the model: the message names the keys."""


def _name_keys(keys, limit: int = 12) -> str:
    keys = sorted(keys)
    shown = ", ".join(keys[:limit])
    return shown + (f", ... ({len(keys)} in all)" if len(keys) > limit else "")


def load_state_dict_file(path: str | Path) -> dict[str, torch.Tensor]:
    """Tensors from a .safetensors / .pt / .pth / .ckpt / .bin file, or a folder holding (sharded) safetensors."""
    path = Path(path)
    if path.is_dir():
        for name in _INDEX_NAMES:
            if (path / name).is_file():
                index = json.loads((path / name).read_text())
                state: dict[str, torch.Tensor] = {}
                for shard in sorted(set(index["weight_map"].values())):
                    state.update(load_state_dict_file(path / shard))
                return state
        for name in _WEIGHT_NAMES:
            if (path / name).is_file():
                return load_state_dict_file(path / name)
        found = sorted(path.glob("*.safetensors"))
        if len(found) == 1:
            return load_state_dict_file(found[0])
        raise FileNotFoundError(
            f"no transformer weights in {path}: looked for {', '.join(_INDEX_NAMES + _WEIGHT_NAMES)}"
            + (f" (found several .safetensors: {[p.name for p in found]})" if found else "")
        )
    if not path.is_file():
        raise FileNotFoundError(f"checkpoint file not found: {path}")
    if path.suffix == ".safetensors":
        from safetensors.torch import load_file

        return load_file(str(path))
    obj = torch.load(str(path), map_location="cpu", weights_only=True, mmap=True)
    # Lightning / DeepSpeed / DiffSynth wrap the tensors in a dict.
    for key in ("state_dict", "module", "model"):
        if isinstance(obj, dict) and key in obj and isinstance(obj[key], dict):
            obj = obj[key]
    if not isinstance(obj, dict) or not all(isinstance(v, torch.Tensor) for v in obj.values()):
        raise CheckpointMismatchError(f"{path} does not hold a flat state dict of tensors")
    return obj


def strip_common_prefix(state_dict: dict) -> dict:
    """Remove a wrapper prefix (``module.``, ``dit.`` ...) shared by every key."""
    changed = True
    while changed and state_dict:
        changed = False
        for prefix in _PREFIXES:
            if all(k.startswith(prefix) for k in state_dict):
                state_dict = {k[len(prefix):]: v for k, v in state_dict.items()}
                changed = True
                break
    return state_dict


def is_original_wan_format(state_dict: dict) -> bool:
    return any(".self_attn." in k or ".cross_attn." in k or k.startswith(("head.", "text_embedding.")) for k in state_dict)


def _strip_prefix_names(state_dict: dict) -> tuple[dict, dict]:
    stripped = strip_common_prefix(dict(state_dict))
    # strip_common_prefix only cuts a shared prefix, so the original names line up in order
    return stripped, dict(zip(stripped, state_dict))


def wan_to_diffusers(state_dict: dict, *, return_names: bool = False):
    """Original Wan names -> diffusers names with diffusers' own converter; diffusers names pass through.

    With ``return_names`` also returns ``{new name: name in the checkpoint}`` for error messages.
    """
    from diffusers.loaders.single_file_utils import convert_wan_transformer_to_diffusers

    state_dict, names = _strip_prefix_names(state_dict)
    if is_original_wan_format(state_dict):
        # The converter only renames keys (T2V has no tensor-reshaping entries), so running it on the names
        # themselves tells which checkpoint key became which model key.
        renamed = convert_wan_transformer_to_diffusers({k: k for k in state_dict})
        state_dict = {new: state_dict[old] for new, old in renamed.items()}
        names = {new: names[old] for new, old in renamed.items()}
    return (state_dict, names) if return_names else state_dict


def hydra_to_diffusers(state_dict: dict, *, return_names: bool = False):
    """Released HyDRA (DiffSynth) names -> this model's names."""
    state_dict, names = _strip_prefix_names(state_dict)
    hydra, hydra_names, rest = {}, {}, {}
    for key, value in state_dict.items():
        for pattern, target in _HYDRA_RENAMES:
            if pattern.match(key):
                new = pattern.sub(target, key)
                hydra[new], hydra_names[new] = value, names[key]
                break
        else:
            rest[names[key]] = value
    out, out_names = wan_to_diffusers(rest, return_names=True) if rest else ({}, {})
    out.update(hydra)
    out_names.update(hydra_names)
    return (out, out_names) if return_names else out


def hydra_parameter_names(model) -> set[str]:
    """Names of the HyDRA-only parameters (the processors' camera encoders, projectors and tokenizers)."""
    return {k for k in model.state_dict() if ".attn1.processor." in k}


def _check_and_assign(model, state_dict: dict, *, required: set[str], source: str, dtype=None, names=None) -> None:
    expected = model.state_dict()
    names = names or {}

    def shown(k):  # the checkpoint's own name, and ours when they differ
        return k if names.get(k, k) == k else f"{names[k]} (-> {k})"

    unexpected = set(state_dict) - set(expected)
    missing = required - set(state_dict)
    wrong = {
        k: (tuple(state_dict[k].shape), tuple(expected[k].shape))
        for k in set(state_dict) & set(expected)
        if tuple(state_dict[k].shape) != tuple(expected[k].shape)
    }
    problems = []
    if missing:
        problems.append(f"missing keys: {_name_keys(missing)}")
    if unexpected:
        hint = ""
        if any(".processor.tokenizer." in k for k in unexpected):
            hint = " (memory tokenizer weights: build the model with retrieval_mode='dynamic' or 'fov')"
        problems.append(f"unexpected keys: {_name_keys(shown(k) for k in unexpected)}{hint}")
    if wrong:
        items = sorted(wrong.items())
        desc = "; ".join(f"{shown(k)}: checkpoint {a} vs model {b}" for k, (a, b) in items[:6])
        hint = ""
        conv = [a for k, (a, _) in items if k.endswith("tokenizer.conv.weight")]
        if conv:
            hint = f" (the checkpoint's tokenizer kernel is {conv[0][2:]}: set memory_kernel={conv[0][2:]})"
        problems.append(f"shape mismatches: {desc}{' ...' if len(items) > 6 else ''}{hint}")
    if problems:
        raise CheckpointMismatchError(f"{source} does not fit {type(model).__name__}: " + "; ".join(problems))
    keep_fp32 = set(getattr(model, "_keep_in_fp32_modules", None) or [])
    converted = {}
    for k, v in state_dict.items():
        if not v.is_floating_point():
            want = v.dtype
        elif dtype is not None:  # diffusers keeps a few numerically sensitive modules in float32
            want = torch.float32 if keep_fp32 & set(k.split(".")) else dtype
        elif expected[k].device.type != "meta":
            want = expected[k].dtype
        else:
            want = v.dtype
        converted[k] = v.to(dtype=want).contiguous()
    model.load_state_dict(converted, strict=False, assign=True)


def load_wan_weights(model, state_dict: dict, *, source: str = "state dict", dtype=None) -> None:
    """Put Wan2.1 transformer weights (original or diffusers names) into the model; HyDRA modules keep their init."""
    sd, names = wan_to_diffusers(state_dict, return_names=True)
    required = set(model.state_dict()) - hydra_parameter_names(model)
    _check_and_assign(model, sd, required=required, source=source, dtype=dtype, names=names)


def load_hydra_checkpoint(model, checkpoint: str | Path | dict, *, dtype=None) -> None:
    """Load a released HyDRA checkpoint (DiffSynth keys), full or trained-modules-only, onto a Wan-loaded model.

    Every HyDRA parameter of the model must be in the checkpoint; Wan parameters it lacks keep the base weights.
    """
    source = str(checkpoint) if not isinstance(checkpoint, dict) else "HyDRA state dict"
    raw = load_state_dict_file(checkpoint) if not isinstance(checkpoint, dict) else checkpoint
    sd, names = hydra_to_diffusers(raw, return_names=True)
    if dtype is None:
        dtype = next(model.parameters()).dtype
    _check_and_assign(model, sd, required=hydra_parameter_names(model), source=source, dtype=dtype, names=names)


def read_wan_config(folder: str | Path) -> dict:
    """Wan transformer config (diffusers names) from a diffusers or an original ``config.json``."""
    path = Path(folder) / "config.json"
    if not path.is_file():
        raise FileNotFoundError(f"no config.json in {folder} (a Wan transformer folder needs one)")
    raw = json.loads(path.read_text())
    if "num_attention_heads" in raw:  # diffusers
        return {k: raw[k] for k in WAN_CONFIG_KEYS if k in raw}
    if "dim" in raw:  # original Wan release
        if raw.get("model_type", "t2v") != "t2v":
            raise ValueError(f"{path}: model_type {raw.get('model_type')!r}; HyDRA builds on the T2V model")
        cfg = dict(WAN21_T2V_1_3B_CONFIG)
        cfg.update(
            num_attention_heads=raw["num_heads"], attention_head_dim=raw["dim"] // raw["num_heads"],
            in_channels=raw.get("in_dim", 16), out_channels=raw.get("out_dim", 16), ffn_dim=raw["ffn_dim"],
            freq_dim=raw.get("freq_dim", 256), num_layers=raw["num_layers"], eps=raw.get("eps", 1e-6),
        )
        return cfg
    raise ValueError(f"{path} is neither a diffusers nor an original Wan transformer config")
