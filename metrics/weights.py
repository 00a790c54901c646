"""Where each learned metric's weights come from.

Order, for every model: (1) the folder the user names (`weights_dir`), (2) the library's standard cache,
(3) the library's standard download, only when downloads are allowed. Downloads are off when
HMWORLD_OFFLINE=1, or when the library's own offline switch is set (HF_HUB_OFFLINE for the Hugging Face
hosted DINO/CLIP files, YOLO_OFFLINE for ultralytics), or when the caller passes allow_download=False.
With nothing found and no download allowed, WeightsNotFoundError names the file and where to put it.
"""
from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Optional, Sequence, Union

PathLike = Union[str, Path]

ALEXNET_FILE = "alexnet-owt-7be5be79.pth"
ALEXNET_URL = "https://download.pytorch.org/models/alexnet-owt-7be5be79.pth"
DINO_HF_REPO = "timm/vit_base_patch16_224.dino"
DINO_ORIGINAL_FILE = "dino_vitbase16_pretrain.pth"
CLIP_HF_REPO = "timm/vit_base_patch32_clip_224.openai"
CLIP_OPENAI_FILE = "ViT-B-32.pt"
DEFAULT_YOLO = "yolo11x.pt"


class WeightsNotFoundError(FileNotFoundError):
    """No weights file found locally and downloading is not allowed (or failed)."""


def _truthy(value: Optional[str]) -> bool:
    return str(value or "").strip().lower() in ("1", "true", "yes", "on")


def _xdg_cache() -> Path:
    return Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache")


def _hf_cache_dir() -> Path:
    # Read at call time (huggingface_hub freezes its constant at import), so a changed HF_HOME counts.
    if os.environ.get("HF_HUB_CACHE"):
        return Path(os.environ["HF_HUB_CACHE"])
    if os.environ.get("HF_HOME"):
        return Path(os.environ["HF_HOME"]) / "hub"
    return _xdg_cache() / "huggingface" / "hub"


def _torch_hub_checkpoints() -> Path:
    import torch.hub

    return Path(torch.hub.get_dir()) / "checkpoints"


def _hf_cached(repo: str, filename: str) -> Optional[Path]:
    try:
        from huggingface_hub import try_to_load_from_cache
    except ImportError:  # pragma: no cover - huggingface_hub ships with timm/open_clip
        return None
    found = try_to_load_from_cache(repo, filename, cache_dir=str(_hf_cache_dir()))
    return Path(found) if isinstance(found, str) and Path(found).is_file() else None


def _hf_download(repo: str, filename: str) -> Path:
    from huggingface_hub import hf_hub_download

    return Path(hf_hub_download(repo, filename, cache_dir=str(_hf_cache_dir())))


@dataclass(frozen=True)
class WeightSpec:
    """One weights file a metric needs."""

    key: str
    metrics: tuple[str, ...]
    model: str
    filenames: tuple[str, ...]             # accepted names inside weights_dir; the first is the canonical one
    source: str                            # where the standard download comes from
    offline_envs: tuple[str, ...]          # library switches that forbid the download
    cache: Callable[[], list[Path]]        # candidate files in the library's standard cache(s)
    download: Optional[Callable[[], Path]] = None   # None: shipped inside a package, never downloaded

    def hint(self, weights_dir: Optional[PathLike]) -> str:
        where = Path(weights_dir) if weights_dir else Path("<weights_dir>")
        alt = f" (or {', '.join(self.filenames[1:])})" if len(self.filenames) > 1 else ""
        return (f"put {self.filenames[0]}{alt} in {where}, pass weights_dir=..., or run once online "
                f"(downloads from {self.source})")


@dataclass(frozen=True)
class WeightStatus:
    """One row of the `hmworld weights` report."""

    key: str
    metrics: tuple[str, ...]
    model: str
    file: str
    present: bool
    found_at: Optional[str]
    origin: str          # weights_dir | cache | package | missing
    hint: str


def _alexnet_cache() -> list[Path]:
    return [_torch_hub_checkpoints() / ALEXNET_FILE]


def _alexnet_download() -> Path:
    import torch.hub

    torch.hub.load_state_dict_from_url(ALEXNET_URL, map_location="cpu", progress=False)
    return _torch_hub_checkpoints() / ALEXNET_FILE


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
    found = _hf_cached(DINO_HF_REPO, "model.safetensors")
    # The DINO repository's own file: where VBench keeps it (its local DINO model) and where torch.hub caches it.
    return ([found] if found else []) + [_vbench_cache() / "dino_model" / DINO_ORIGINAL_FILE,
                                         _torch_hub_checkpoints() / DINO_ORIGINAL_FILE]


def _clip_cache() -> list[Path]:
    out = [_hf_cached(CLIP_HF_REPO, name) for name in ("open_clip_model.safetensors", "open_clip_pytorch_model.bin")]
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
        key="yolo11", metrics=("dsc",), model=f"ultralytics YOLO11 detector ({name})", filenames=(name,),
        source=f"github.com/ultralytics/assets releases ({name})", offline_envs=("YOLO_OFFLINE",),
        cache=cache, download=download)


SPECS: dict[str, WeightSpec] = {
    "lpips_alexnet": WeightSpec(
        key="lpips_alexnet", metrics=("lpips",), model="torchvision AlexNet ImageNet trunk (LPIPS backbone)",
        filenames=(ALEXNET_FILE,), source=ALEXNET_URL, offline_envs=(),
        cache=_alexnet_cache, download=_alexnet_download),
    "lpips_lin": WeightSpec(
        key="lpips_lin", metrics=("lpips",), model="LPIPS v0.1 alex linear heads (shipped in the lpips package)",
        filenames=("alex.pth",), source="the lpips package (no download)", offline_envs=(),
        cache=_lpips_lin_cache, download=None),
    "dino_vitb16": WeightSpec(
        key="dino_vitb16", metrics=("subject_consistency",), model="DINO ViT-B/16 (timm vit_base_patch16_224.dino)",
        filenames=("vit_base_patch16_224.dino.safetensors", DINO_ORIGINAL_FILE),
        source=f"huggingface.co/{DINO_HF_REPO}", offline_envs=("HF_HUB_OFFLINE",),
        cache=_dino_cache, download=lambda: _hf_download(DINO_HF_REPO, "model.safetensors")),
    "clip_vitb32": WeightSpec(
        key="clip_vitb32", metrics=("background_consistency", "dsc"),
        model="CLIP ViT-B/32 OpenAI weights (open_clip ViT-B-32-quickgelu)",
        filenames=(CLIP_OPENAI_FILE, "ViT-B-32-quickgelu.openai.safetensors"),
        source=f"huggingface.co/{CLIP_HF_REPO}", offline_envs=("HF_HUB_OFFLINE",),
        cache=_clip_cache, download=lambda: _hf_download(CLIP_HF_REPO, "open_clip_model.safetensors")),
}


def specs(yolo_weights: str = DEFAULT_YOLO) -> list[WeightSpec]:
    return [*SPECS.values(), yolo_spec(yolo_weights)]


def downloads_allowed(spec: WeightSpec, allow_download: Optional[bool] = None) -> bool:
    if allow_download is not None:
        return allow_download
    if _truthy(os.environ.get("HMWORLD_OFFLINE")):
        return False
    return not any(_truthy(os.environ.get(env)) for env in spec.offline_envs)


def locate(spec: WeightSpec, weights_dir: Optional[PathLike] = None) -> tuple[Optional[Path], str]:
    """Find the file without downloading: (path, origin) or (None, 'missing')."""
    weights_dir = weights_dir or os.environ.get("HMWORLD_WEIGHTS_DIR") or None
    if weights_dir:
        for name in spec.filenames:
            candidate = Path(weights_dir) / name
            if candidate.is_file():
                return candidate, "weights_dir"
    for candidate in spec.cache():
        if candidate.is_file():
            return candidate, "cache" if spec.download else "package"
    return None, "missing"


def resolve(spec: WeightSpec, weights_dir: Optional[PathLike] = None,
            allow_download: Optional[bool] = None) -> Path:
    """The local path of the weights, downloading them only where allowed; a clear error otherwise."""
    weights_dir = weights_dir or os.environ.get("HMWORLD_WEIGHTS_DIR") or None
    path, _ = locate(spec, weights_dir)
    if path is not None:
        return path
    looked = [str(Path(weights_dir) / n) for n in spec.filenames] if weights_dir else []
    looked += [str(p) for p in spec.cache()]
    where = "; looked in: " + ", ".join(looked) if looked else ""
    if spec.download is None:
        raise WeightsNotFoundError(f"{spec.model}: {spec.filenames[0]} not found{where}. Reinstall the package "
                                   f"that ships it.")
    if not downloads_allowed(spec, allow_download):
        switches = ", ".join(("HMWORLD_OFFLINE",) + spec.offline_envs)
        raise WeightsNotFoundError(
            f"{spec.model}: weights file {spec.filenames[0]} not found and downloads are off ({switches} or "
            f"allow_download=False){where}. To fix: {spec.hint(weights_dir)}.")
    try:
        path = spec.download()
    except Exception as exc:  # network errors come in many library-specific types
        raise WeightsNotFoundError(
            f"{spec.model}: downloading {spec.filenames[0]} from {spec.source} failed ({exc}){where}. "
            f"To fix: {spec.hint(weights_dir)}.") from exc
    if not Path(path).is_file():
        raise WeightsNotFoundError(f"{spec.model}: download of {spec.filenames[0]} gave no file at {path}")
    return Path(path)


def report(weights_dir: Optional[PathLike] = None, yolo_weights: str = DEFAULT_YOLO) -> list[WeightStatus]:
    """What each learned metric needs and what is present (no download): the `hmworld weights` table."""
    rows = []
    for spec in specs(yolo_weights):
        path, origin = locate(spec, weights_dir)
        rows.append(WeightStatus(
            key=spec.key, metrics=spec.metrics, model=spec.model, file=spec.filenames[0],
            present=path is not None, found_at=str(path) if path else None, origin=origin,
            hint="" if path else spec.hint(weights_dir)))
    return rows


def format_report(rows: Sequence[WeightStatus]) -> str:
    """Plain-text table of `report()` rows (stable for logs and tests)."""
    header = ("metric(s)", "model", "file", "status", "location / how to get it")
    body = [(",".join(r.metrics), r.model, r.file, "present" if r.present else "MISSING",
             f"{r.found_at} ({r.origin})" if r.present else r.hint) for r in rows]
    widths = [max(len(str(x)) for x in col) for col in zip(header, *body)]
    lines = ["  ".join(str(c).ljust(w) for c, w in zip(row, widths)).rstrip() for row in (header, *body)]
    lines.insert(1, "  ".join("-" * w for w in widths))
    missing = sum(not r.present for r in rows)
    lines.append(f"{len(rows) - missing}/{len(rows)} present" + (f"; {missing} missing" if missing else ""))
    return "\n".join(lines)
