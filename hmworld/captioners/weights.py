"""Where a vision-language captioner's weights come from: the toolkit's one resolver (`hmworld.weights`).

`model=` is either a folder holding a saved transformers model (config.json beside the weights) or a hub id
(`org/name`), looked up in the standard Hugging Face cache first and downloaded only where the offline policy of
`hmworld.weights` allows it (never with HMWORLD_OFFLINE, HF_HUB_OFFLINE or TRANSFORMERS_OFFLINE set, nor with
captioner.allow_download=false). Whatever fails, the error names the setting and the folder(s) it looked in, so an
offline machine says exactly where to put the weights.
"""
from __future__ import annotations

from pathlib import Path

from hmworld.weights import ModelFolder, WeightsNotFoundError, is_hub_id, resolve_folder

ModelSource = ModelFolder  # folder, model_id (recorded in caption_source), from_hub


class CaptionerWeightsError(WeightsNotFoundError):
    """A captioner's model could not be found (or fetched); the message names where it looked."""


def resolve_model(model: str, captioner: str, revision: str | None = None,
                  allow_download: bool | None = None) -> ModelSource:
    """The local folder of `model` (a folder path or a hub id), downloading a hub id only when allowed."""
    if not model or not str(model).strip():
        raise CaptionerWeightsError(f"captioner {captioner}: model= is empty; pass a local model folder or a hub id")
    model = str(model).strip()
    local = Path(model).expanduser()
    if not is_hub_id(model) and not local.exists():  # a mistyped path: the plainer message
        raise CaptionerWeightsError(f"captioner {captioner}: model folder {local.resolve()} does not exist "
                                    "(captioner.model: a local folder or a hub id org/name)")
    try:
        source = resolve_folder(model, setting="captioner.model", what="model", revision=revision,
                                allow_download=allow_download)
    except WeightsNotFoundError as exc:
        raise CaptionerWeightsError(f"captioner {captioner}: {exc}") from exc
    if not source.folder.is_dir() or not (source.folder / "config.json").exists():
        raise CaptionerWeightsError(f"captioner {captioner}: model folder {source.folder} has no config.json "
                                    "(not a saved transformers model)")
    return source
