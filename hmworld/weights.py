"""Where every learned component's weights come from: one resolver and one offline policy for the metrics
(metrics/weights.py lists their files), the captioners (a model folder or hub id) and the model's components
(Wan2.1 transformer, VAE, UMT5 text encoder: model/components.py).

Lookup order, whatever needs the weights: (1) the path the user names (a folder or file setting, or
`weights_dir` / $HMWORLD_WEIGHTS_DIR for the metrics' single files), (2) the owning library's own cache, read
the way that library reads it (Hugging Face: $HF_HUB_CACHE, $HF_HOME/hub, $XDG_CACHE_HOME/huggingface/hub;
torch.hub: $TORCH_HOME; the rest in metrics/weights.py), (3) the library's standard download, only when the
offline policy allows it. Nothing found and no download allowed: one `WeightsNotFoundError` that names the
setting, every path looked at, and the command or variable that fixes it.

The offline policy, the same for every component:
  * HMWORLD_OFFLINE=1 forbids every download, whatever else says (the test suite sets it: tests never download);
  * otherwise an explicit setting wins (`allow_download=true|false`, e.g. `captioner.allow_download=false`);
  * otherwise any library offline switch (HF_HUB_OFFLINE, TRANSFORMERS_OFFLINE, YOLO_OFFLINE) forbids every
    download, not only its own library's, so one switch makes the whole toolkit offline;
  * otherwise downloads are allowed.
"""
from __future__ import annotations

import os
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Optional, Sequence, Union

from hmworld.errors import ConfigError

PathLike = Union[str, Path]

PROJECT_SWITCH = "HMWORLD_OFFLINE"
LIBRARY_SWITCHES = ("HF_HUB_OFFLINE", "TRANSFORMERS_OFFLINE", "YOLO_OFFLINE")
OFFLINE_SWITCHES = (PROJECT_SWITCH, *LIBRARY_SWITCHES)
WEIGHTS_DIR_ENV = "HMWORLD_WEIGHTS_DIR"

_HUB_ID = re.compile(r"^[A-Za-z0-9][\w.\-]*/[\w.\-]+$")
_SNAPSHOT = re.compile(r"models--([^/]+)--([^/]+)/snapshots/[^/]+/?$")


class WeightsNotFoundError(ConfigError, FileNotFoundError):
    """Weights not found locally and not downloadable (offline, or the download failed). A ConfigError, so every
    command prints it as its one-line error (exit status 2)."""


# ----------------------------------------------------------------------------------------------- the policy
def _truthy(value: Optional[str]) -> bool:
    return str(value or "").strip().lower() in ("1", "true", "yes", "on")


def offline_switches() -> list[str]:
    """The offline switches set in the environment, in policy order."""
    return [name for name in OFFLINE_SWITCHES if _truthy(os.environ.get(name))]


def download_refusal(allow_download: Optional[bool] = None) -> Optional[str]:
    """Why a download may not happen (None: it may), as the error messages quote it."""
    switches = offline_switches()
    if PROJECT_SWITCH not in switches and allow_download is not None:
        return None if allow_download else "downloads are off (allow_download=false)"
    return f"downloads are off ({', '.join(f'{s}=1' for s in switches)})" if switches else None


def downloads_allowed(allow_download: Optional[bool] = None) -> bool:
    return download_refusal(allow_download) is None


def _how_to_go_online(allow_download: Optional[bool]) -> str:
    switches = offline_switches()
    if allow_download is False and PROJECT_SWITCH not in switches:
        return "set allow_download=true"
    return f"unset {', '.join(switches)}" if switches else "allow downloads"


# ----------------------------------------------------------------------------------------------- the caches
def xdg_cache() -> Path:
    return Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache")


def hf_cache_dir() -> Path:
    """huggingface_hub's cache folder, read at call time (the library freezes its constant at import, and a
    changed HF_HOME must count)."""
    if os.environ.get("HF_HUB_CACHE"):
        return Path(os.environ["HF_HUB_CACHE"])
    if os.environ.get("HF_HOME"):
        return Path(os.environ["HF_HOME"]) / "hub"
    return xdg_cache() / "huggingface" / "hub"


def hf_repo_cache(repo: str) -> Path:
    """The folder huggingface_hub keeps one model repository in."""
    return hf_cache_dir() / f"models--{repo.replace('/', '--')}"


def hf_cached_file(repo: str, filename: str) -> Optional[Path]:
    try:
        from huggingface_hub import try_to_load_from_cache
    except ImportError:  # pragma: no cover - huggingface_hub ships with timm/transformers
        return None
    found = try_to_load_from_cache(repo, filename, cache_dir=str(hf_cache_dir()))
    return Path(found) if isinstance(found, str) and Path(found).is_file() else None


def hf_download_file(repo: str, filename: str) -> Path:
    from huggingface_hub import hf_hub_download

    return Path(hf_hub_download(repo, filename, cache_dir=str(hf_cache_dir())))


def torch_hub_checkpoints() -> Path:
    import torch.hub

    return Path(torch.hub.get_dir()) / "checkpoints"


def default_weights_dir(weights_dir: Optional[PathLike] = None) -> Optional[Path]:
    value = weights_dir or os.environ.get(WEIGHTS_DIR_ENV) or None
    return Path(value).expanduser() if value else None


# ----------------------------------------------------------------------------------------------- single files
@dataclass(frozen=True)
class WeightFile:
    """One weights file: the names accepted in `weights_dir`, the library cache paths, the standard download."""

    key: str
    used_by: tuple[str, ...]               # e.g. the metrics that need it
    model: str
    filenames: tuple[str, ...]             # accepted names inside weights_dir; the first is the canonical one
    source: str                            # where the standard download comes from
    cache: Callable[[], list[Path]]        # candidate files in the library's standard cache(s)
    download: Optional[Callable[[], Path]] = None   # None: shipped inside a package, never downloaded
    setting: str = "weights_dir"

    @property
    def metrics(self) -> tuple[str, ...]:  # the metrics' name for `used_by`
        return self.used_by

    def looked_in(self, weights_dir: Optional[PathLike] = None) -> list[Path]:
        folder = default_weights_dir(weights_dir)
        return ([folder / n for n in self.filenames] if folder else []) + list(self.cache())

    def hint(self, weights_dir: Optional[PathLike] = None) -> str:
        folder = default_weights_dir(weights_dir)
        where = folder if folder else Path("<weights_dir>")
        alt = f" (or {', '.join(self.filenames[1:])})" if len(self.filenames) > 1 else ""
        return (f"put {self.filenames[0]}{alt} in {where} (setting {self.setting}=DIR or ${WEIGHTS_DIR_ENV}), or "
                f"run once with downloads on (downloads from {self.source})")


def locate(spec: WeightFile, weights_dir: Optional[PathLike] = None) -> tuple[Optional[Path], str]:
    """Find the file without downloading: (path, origin) with origin weights_dir | cache | package, or
    (None, 'missing')."""
    folder = default_weights_dir(weights_dir)
    if folder:
        for name in spec.filenames:
            if (folder / name).is_file():
                return folder / name, "weights_dir"
    for candidate in spec.cache():
        if candidate.is_file():
            return candidate, "cache" if spec.download else "package"
    return None, "missing"


def resolve(spec: WeightFile, weights_dir: Optional[PathLike] = None,
            allow_download: Optional[bool] = None) -> Path:
    """The local path of the file, downloading it only where the policy allows; WeightsNotFoundError otherwise."""
    path, _ = locate(spec, weights_dir)
    if path is not None:
        return path
    looked = ", ".join(str(p) for p in spec.looked_in(weights_dir)) or "(nowhere)"
    if spec.download is None:
        raise WeightsNotFoundError(f"{spec.model}: {spec.filenames[0]} not found; looked in: {looked}. Reinstall "
                                   "the package that ships it.")
    refusal = download_refusal(allow_download)
    if refusal:
        raise WeightsNotFoundError(
            f"{spec.model}: weights file {spec.filenames[0]} not found and {refusal}; looked in: {looked}. "
            f"To fix: {spec.hint(weights_dir)}, i.e. {_how_to_go_online(allow_download)}.")
    try:
        path = spec.download()
    except Exception as exc:  # network errors come in many library-specific types
        raise WeightsNotFoundError(
            f"{spec.model}: downloading {spec.filenames[0]} from {spec.source} failed ({type(exc).__name__}: {exc}); "
            f"looked in: {looked}. To fix: {spec.hint(weights_dir)}.") from exc
    if not Path(path).is_file():
        raise WeightsNotFoundError(f"{spec.model}: download of {spec.filenames[0]} gave no file at {path}")
    return Path(path)


# ----------------------------------------------------------------------------------------------- model folders
@dataclass(frozen=True)
class ModelFolder:
    folder: Path    # a local folder (or file)
    model_id: str   # the hub id, or the folder's name (never a machine's absolute path): for records
    from_hub: bool


def is_hub_id(ref: str) -> bool:
    """`org/name` (what huggingface_hub accepts); absolute, ./ or ~ paths and deeper paths are local paths."""
    return not str(ref).startswith(("/", ".", "~")) and bool(_HUB_ID.match(str(ref)))


def id_for_folder(folder: Path) -> str:
    """A stable name for a local folder: the hub id when it is a hub cache snapshot, else the folder's name."""
    m = _SNAPSHOT.search(Path(folder).as_posix())
    return f"{m.group(1)}/{m.group(2)}" if m else Path(folder).name


def cached_snapshot(repo: str, revision: Optional[str] = None) -> Optional[Path]:
    """The repository's snapshot folder in the Hugging Face cache, without any network access."""
    try:
        from huggingface_hub import snapshot_download
    except ImportError:  # pragma: no cover
        return None
    try:
        return Path(snapshot_download(repo, revision=revision, local_files_only=True, cache_dir=hf_cache_dir()))
    except Exception:  # noqa: BLE001 - huggingface_hub raises several types for "not in the cache"
        return None


def folder_candidates(ref: str, subfolder: Optional[str] = None) -> list[Path]:
    """Where a folder setting is looked for (for messages and the report): the local path, then for a hub id
    the repository's folder in the Hugging Face cache."""
    local = Path(str(ref)).expanduser().absolute()
    out = [local / subfolder if subfolder else local]
    if is_hub_id(ref):
        cache = hf_repo_cache(str(ref)) / "snapshots" / "<revision>"
        out.append(cache / subfolder if subfolder else cache)
    return out


def locate_folder(ref: str, revision: Optional[str] = None) -> Optional[ModelFolder]:
    """A local path that exists, or a hub id already in the cache; None otherwise (nothing is downloaded)."""
    local = Path(str(ref)).expanduser()
    if local.exists():
        folder = local.resolve()
        return ModelFolder(folder, id_for_folder(folder), from_hub=False)
    if is_hub_id(ref):
        snap = cached_snapshot(str(ref), revision)
        if snap is not None:
            return ModelFolder(snap, str(ref), from_hub=True)
    return None


def resolve_folder(ref: str, *, setting: str, what: str, revision: Optional[str] = None,
                   allow_download: Optional[bool] = None) -> ModelFolder:
    """A local folder or file, or a Hugging Face repository (`org/name`) from the cache or, where the policy
    allows, downloaded into it. Errors name `setting`, the paths looked at and the fix."""
    ref = str(ref).strip() if ref is not None else ""
    if not ref:
        raise WeightsNotFoundError(f"{setting} is empty: pass a local folder or a Hugging Face repo id")
    found = locate_folder(ref, revision)
    if found is not None:
        return found
    local = Path(ref).expanduser().absolute()
    if not is_hub_id(ref):
        raise WeightsNotFoundError(f"{setting}={ref}: {what} not found (no such file or folder {local})")
    looked = f"looked for the local folder {local} and in the Hugging Face cache {hf_repo_cache(ref)}"
    fix = (f"download it where there is network (`hf download {ref} --local-dir DIR`; older huggingface_hub: "
           f"`huggingface-cli download`) and pass {setting}=DIR")
    refusal = download_refusal(allow_download)
    if refusal:
        raise WeightsNotFoundError(f"{setting}={ref}: {what} not found: {looked}; {refusal}. To fix: {fix}, or "
                                   f"{_how_to_go_online(allow_download)} to download it into the cache.")
    from huggingface_hub import snapshot_download

    try:
        folder = snapshot_download(ref, revision=revision, cache_dir=hf_cache_dir())
    except Exception as exc:  # noqa: BLE001 - network, auth, unknown repo: all end the same way for the user
        raise WeightsNotFoundError(f"{setting}={ref}: {what} not found: {looked}, and downloading it failed "
                                   f"({type(exc).__name__}: {exc}). To fix: {fix}.") from exc
    return ModelFolder(Path(folder), ref, from_hub=True)


# ----------------------------------------------------------------------------------------------- the report
@dataclass(frozen=True)
class WeightStatus:
    """One row of the `hmworld weights` report."""

    key: str
    used_by: tuple[str, ...]
    model: str
    file: str
    present: bool
    found_at: Optional[str]
    origin: str          # weights_dir | cache | package | local | hub cache | not needed | missing
    hint: str
    looked: tuple[str, ...] = ()

    @property
    def metrics(self) -> tuple[str, ...]:
        return self.used_by


def file_status(spec: WeightFile, weights_dir: Optional[PathLike] = None) -> WeightStatus:
    path, origin = locate(spec, weights_dir)
    return WeightStatus(
        key=spec.key, used_by=spec.used_by, model=spec.model, file=spec.filenames[0], present=path is not None,
        found_at=str(path) if path else None, origin=origin, hint="" if path else spec.hint(weights_dir),
        looked=tuple(str(p) for p in spec.looked_in(weights_dir)))


def folder_status(key: str, used_by: Sequence[str], model: str, ref: Optional[str], *, setting: str,
                  subfolder: Optional[str] = None, revision: Optional[str] = None,
                  needs: Sequence[str] = ("config.json",)) -> WeightStatus:
    """A folder setting's row: present when the folder (its `subfolder`) holds every file of `needs`."""
    file = f"{subfolder}/" if subfolder else "(folder)"
    looked = tuple(str(p) for p in folder_candidates(str(ref or ""), subfolder))
    if not ref:
        return WeightStatus(key, tuple(used_by), model, file, False, None, "missing",
                            f"set {setting}=DIR (a local folder or a Hugging Face repo id)", looked)
    found = locate_folder(str(ref), revision)
    target = (found.folder / subfolder if subfolder else found.folder) if found else None
    if target is not None and target.is_file():
        missing: list[str] = []
    elif target is not None and target.is_dir():
        missing = [n for n in needs if not (target / n).exists()]
    else:
        missing = list(needs) or ["it"]
        target = None
    if target is not None and not missing:
        return WeightStatus(key, tuple(used_by), model, file, True, str(target),
                            "hub cache" if found.from_hub else "local", "", looked)
    fix = (f"`hf download {ref} --local-dir DIR` where there is network and pass {setting}=DIR"
           if is_hub_id(str(ref)) else f"point {setting} at the folder or file that holds it")
    what = f"{target} lacks {', '.join(missing)}; " if target is not None else ""
    return WeightStatus(key, tuple(used_by), model, file, False, None, "missing", what + fix, looked)


def not_needed(key: str, used_by: Sequence[str], model: str) -> WeightStatus:
    return WeightStatus(key, tuple(used_by), model, "-", True, None, "not needed", "")


def format_report(rows: Sequence[WeightStatus]) -> str:
    """Plain-text table of report rows (stable for logs and tests); a missing row lists where it looked."""
    header = ("used by", "model", "file", "status", "location / how to get it")

    def status(r: WeightStatus) -> str:
        return "not needed" if r.origin == "not needed" else "present" if r.present else "MISSING"

    def where(r: WeightStatus) -> str:
        if r.origin == "not needed":
            return "built without pretrained weights"
        if r.present:
            return f"{r.found_at} ({r.origin})"
        return r.hint + (f"; looked in: {', '.join(r.looked)}" if r.looked else "")

    body = [(",".join(r.used_by), r.model, r.file, status(r), where(r)) for r in rows]
    widths = [max(len(str(x)) for x in col) for col in zip(header, *body)]
    lines = ["  ".join(str(c).ljust(w) for c, w in zip(row, widths)).rstrip() for row in (header, *body)]
    lines.insert(1, "  ".join("-" * w for w in widths))
    missing = sum(not r.present for r in rows)
    lines.append(f"{len(rows) - missing}/{len(rows)} present" + (f"; {missing} missing" if missing else ""))
    return "\n".join(lines)
