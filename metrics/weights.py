"""Which weights file each learned metric needs, and where each library really keeps it.

The resolver and the offline policy are the toolkit's one (`hmworld.weights`): `weights_dir` (argument, else
$HMWORLD_WEIGHTS_DIR), then the library's standard cache as that library reads it (below), then its standard
download only when the policy allows (never with HMWORLD_OFFLINE=1, nor with HF_HUB_OFFLINE, TRANSFORMERS_OFFLINE or
YOLO_OFFLINE set, unless allow_download=True says so). A missing file raises WeightsNotFoundError naming the file,
every place looked in, and the fix.
"""
from __future__ import annotations

import os
from pathlib import Path
from typing import Optional

from hmworld.weights import (  # noqa: F401 - re-exported: the metrics' API since before the shared resolver
    PathLike, WeightFile, WeightsNotFoundError, WeightStatus, default_weights_dir, download_refusal,
    downloads_allowed, file_status, format_report, hf_cached_file, hf_download_file, locate, resolve,
    torch_hub_checkpoints)

WeightSpec = WeightFile  # the metrics' older name

ALEXNET_FILE = "alexnet-owt-7be5be79.pth"
ALEXNET_URL = "https://download.pytorch.org/models/alexnet-owt-7be5be79.pth"
DINO_HF_REPO = "timm/vit_base_patch16_224.dino"
DINO_ORIGINAL_FILE = "dino_vitbase16_pretrain.pth"
CLIP_HF_REPO = "timm/vit_base_patch32_clip_224.openai"
CLIP_OPENAI_FILE = "ViT-B-32.pt"
DEFAULT_YOLO = "yolo11x.pt"


def _alexnet_cache() -> list[Path]:
    return [torch_hub_checkpoints() / ALEXNET_FILE]


def _alexnet_download() -> Path:
    import torch.hub

    torch.hub.load_state_dict_from_url(ALEXNET_URL, map_location="cpu", progress=False)
    return torch_hub_checkpoints() / ALEXNET_FILE


def _lpips_lin_cache() -> list[Path]:
    import importlib.util

    spec = importlib.util.find_spec("lpips")
    if spec is None or spec.origin is None:
        return []
    return [Path(spec.origin).parent / "weights" / "v0.1" / "alex.pth"]


def _vbench_cache() -> Path:
    # vbench.utils: CACHE_DIR = $VBENCH_CACHE_DIR, else ~/.cache/vbench (the home folder, not $XDG_CACHE_HOME).
    return Path(os.environ.get("VBENCH_CACHE_DIR") or Path.home() / ".cache" / "vbench")


def _dino_cache() -> list[Path]:
    found = hf_cached_file(DINO_HF_REPO, "model.safetensors")
    # The DINO repository's own file: where VBench keeps it (its local DINO model) and where torch.hub caches it.
    return ([found] if found else []) + [_vbench_cache() / "dino_model" / DINO_ORIGINAL_FILE,
                                         torch_hub_checkpoints() / DINO_ORIGINAL_FILE]


def _clip_cache() -> list[Path]:
    out = [hf_cached_file(CLIP_HF_REPO, name) for name in ("open_clip_model.safetensors", "open_clip_pytorch_model.bin")]
    # openai-clip's clip.load downloads to ~/.cache/clip (expanduser; it ignores $XDG_CACHE_HOME); VBench to
    # its CACHE_DIR/clip_model.
    return [p for p in out if p] + [Path.home() / ".cache" / "clip" / CLIP_OPENAI_FILE,
                                    _vbench_cache() / "clip_model" / CLIP_OPENAI_FILE]


def yolo_spec(name: str = DEFAULT_YOLO) -> WeightSpec:
    """The YOLO11 checkpoint for DSC; `name` picks the size (yolo11n.pt ... yolo11x.pt)."""

    def cache() -> list[Path]:
        try:
            from ultralytics.utils import SETTINGS
        except ImportError:  # pragma: no cover
            return []
        # ultralytics' attempt_download_asset: the name as given (relative to the working folder, where it also
        # downloads a bare name), then its weights_dir setting.
        return [Path(name).absolute(), Path(SETTINGS["weights_dir"]) / name]

    def download() -> Path:
        from ultralytics.utils import SETTINGS
        from ultralytics.utils.downloads import attempt_download_asset

        target = Path(SETTINGS["weights_dir"]) / name
        target.parent.mkdir(parents=True, exist_ok=True)
        return Path(attempt_download_asset(target))

    return WeightSpec(
        key="yolo11", used_by=("dsc",), model=f"ultralytics YOLO11 detector ({name})", filenames=(name,),
        source=f"github.com/ultralytics/assets releases ({name})", cache=cache, download=download)


SPECS: dict[str, WeightSpec] = {
    "lpips_alexnet": WeightSpec(
        key="lpips_alexnet", used_by=("lpips",), model="torchvision AlexNet ImageNet trunk (LPIPS backbone)",
        filenames=(ALEXNET_FILE,), source=ALEXNET_URL,
        cache=_alexnet_cache, download=_alexnet_download),
    "lpips_lin": WeightSpec(
        key="lpips_lin", used_by=("lpips",), model="LPIPS v0.1 alex linear heads (shipped in the lpips package)",
        filenames=("alex.pth",), source="the lpips package (no download)",
        cache=_lpips_lin_cache, download=None),
    "dino_vitb16": WeightSpec(
        key="dino_vitb16", used_by=("subject_consistency",), model="DINO ViT-B/16 (timm vit_base_patch16_224.dino)",
        filenames=("vit_base_patch16_224.dino.safetensors", DINO_ORIGINAL_FILE),
        source=f"huggingface.co/{DINO_HF_REPO}",
        cache=_dino_cache, download=lambda: hf_download_file(DINO_HF_REPO, "model.safetensors")),
    "clip_vitb32": WeightSpec(
        key="clip_vitb32", used_by=("background_consistency", "dsc"),
        model="CLIP ViT-B/32 OpenAI weights (open_clip ViT-B-32-quickgelu)",
        filenames=(CLIP_OPENAI_FILE, "ViT-B-32-quickgelu.openai.safetensors"),
        source=f"huggingface.co/{CLIP_HF_REPO}",
        cache=_clip_cache, download=lambda: hf_download_file(CLIP_HF_REPO, "open_clip_model.safetensors")),
}


def specs(yolo_weights: str = DEFAULT_YOLO) -> list[WeightSpec]:
    return [*SPECS.values(), yolo_spec(yolo_weights)]


def report(weights_dir: Optional[PathLike] = None, yolo_weights: str = DEFAULT_YOLO) -> list[WeightStatus]:
    """What each learned metric needs and what is present (no download): the metric rows of `hmworld weights`."""
    return [file_status(spec, weights_dir) for spec in specs(yolo_weights)]


__all__ = ["WeightSpec", "WeightFile", "WeightStatus", "WeightsNotFoundError", "SPECS", "DEFAULT_YOLO", "specs",
           "yolo_spec", "locate", "resolve", "report", "format_report", "downloads_allowed", "download_refusal",
           "default_weights_dir"]
