"""Where a vision-language captioner's weights come from: a local folder, the Hugging Face cache, or a download.

`model=` is either a folder holding a saved transformers model (config.json beside the weights) or a hub id
(`org/name`). A hub id is looked up in the standard Hugging Face cache first and downloaded only when downloads
are allowed: never when HMWORLD_OFFLINE, HF_HUB_OFFLINE or TRANSFORMERS_OFFLINE is set. Whatever fails, the
error names the folder(s) it looked in, so an offline machine says exactly where to put the weights.
"""
from __future__ import annotations

import os
import re
from dataclasses import dataclass
from pathlib import Path

from hmworld.errors import HMWorldError

OFFLINE_ENVS = ("HMWORLD_OFFLINE", "HF_HUB_OFFLINE", "TRANSFORMERS_OFFLINE")
_HUB_ID = re.compile(r"^[A-Za-z0-9][\w.\-]*(/[\w.\-]+)?$")
_SNAPSHOT = re.compile(r"models--([^/]+)--([^/]+)/snapshots/[^/]+/?$")


class CaptionerWeightsError(HMWorldError):
    """A captioner's model could not be found (or fetched); the message names where it looked."""


@dataclass(frozen=True)
class ModelSource:
    folder: Path  # a local folder with config.json
    model_id: str  # hub id, or the folder's name: recorded in caption_source
    from_hub: bool


def _truthy(value: str | None) -> bool:
    return str(value or "").strip().lower() in ("1", "true", "yes", "on")


def offline_switches() -> list[str]:
    return [name for name in OFFLINE_ENVS if _truthy(os.environ.get(name))]


def hf_cache_dir() -> Path:
    # Read at call time: huggingface_hub freezes its constant at import, and tests change HF_HOME afterwards.
    if os.environ.get("HF_HUB_CACHE"):
        return Path(os.environ["HF_HUB_CACHE"])
    if os.environ.get("HF_HOME"):
        return Path(os.environ["HF_HOME"]) / "hub"
    return Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache")) / "huggingface" / "hub"


def _looks_like_path(model: str) -> bool:
    """Hub ids are `name` or `org/name`; anything else (absolute, relative with ./, ~, deeper) is a folder."""
    return model.startswith(("/", ".", "~")) or model.count("/") > 1 or not _HUB_ID.match(model)


def _id_for_folder(folder: Path) -> str:
    """A stable name for a local folder: the hub id when it is a hub cache snapshot, else the folder's name
    (never the absolute path, which differs between machines)."""
    m = _SNAPSHOT.search(folder.as_posix())
    return f"{m.group(1)}/{m.group(2)}" if m else folder.name


def resolve_model(model: str, captioner: str, revision: str | None = None,
                  allow_download: bool | None = None) -> ModelSource:
    """The local folder of `model` (a folder path or a hub id), downloading a hub id only when allowed."""
    if not model or not str(model).strip():
        raise CaptionerWeightsError(f"captioner {captioner}: model= is empty; pass a local model folder or a hub id")
    model = str(model).strip()
    local = Path(model).expanduser()
    if local.is_dir():
        folder = local.resolve()
        if not (folder / "config.json").exists():
            raise CaptionerWeightsError(f"captioner {captioner}: model folder {folder} has no config.json "
                                        "(not a saved transformers model)")
        return ModelSource(folder, _id_for_folder(folder), from_hub=False)
    if _looks_like_path(model):
        raise CaptionerWeightsError(f"captioner {captioner}: model folder {local.resolve()} does not exist")

    from huggingface_hub import snapshot_download

    cache = hf_cache_dir()
    cached_at = cache / f"models--{model.replace('/', '--')}"
    try:  # the standard cache first: no network, whatever the switches say
        folder = snapshot_download(model, revision=revision, local_files_only=True, cache_dir=cache)
        return ModelSource(Path(folder), model, from_hub=True)
    except Exception:  # noqa: BLE001 - huggingface_hub raises several types for "not cached"
        pass
    switches = offline_switches()
    where = (f"looked for the local folder {local.resolve()} and for hub id {model!r} in the Hugging Face cache "
             f"{cached_at}")
    how = (f"Download it where there is network (`hf download {model} --local-dir DIR`; older huggingface_hub: "
           f"`huggingface-cli download`) and pass captioner.model=DIR")
    if switches or allow_download is False:
        reason = f"offline ({', '.join(f'{s}=1' for s in switches)})" if switches else "downloads disabled"
        raise CaptionerWeightsError(f"captioner {captioner}: no weights for {model!r}: {where}; {reason}. {how}")
    try:
        folder = snapshot_download(model, revision=revision, cache_dir=cache)
    except Exception as exc:  # noqa: BLE001 - network, auth, unknown repo: all end the same way for the user
        raise CaptionerWeightsError(f"captioner {captioner}: no weights for {model!r}: {where}, and downloading "
                                    f"failed ({type(exc).__name__}: {exc}). {how}") from exc
    return ModelSource(Path(folder), model, from_hub=True)
