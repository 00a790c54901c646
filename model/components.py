"""Building the pipeline's components from a model config (the `model` group of render_configs).

Three components, each either loaded from local weights (or the Hugging Face cache / a download when online) or,
for the tiny CPU configuration, built from a config with a seeded initialisation:

* the transformer: `HyDRATransformer3DModel` (random init from ``transformer.config``, or Wan2.1 weights from
  ``transformer.pretrained`` with an optional released HyDRA checkpoint on top);
* the VAE: diffusers' `AutoencoderKLWan`, with Wan's latent normalisation ``(z - latents_mean) / latents_std``
  taken from the VAE's own config;
* the text encoder: UMT5 through transformers (bf16 by default, even on CPU: UMT5-XXL in float32 does not fit
  24 GiB), or ``hashed``, a weightless deterministic word-hash embedding for CPU smoke runs without downloads.

Each component also has an *identity*: a small JSON-able dict computed from the config and the weight files'
names and sizes without loading anything. Cache entries are keyed by it, so the trainer can find the entries a
configuration needs without loading the encoders.
"""
from __future__ import annotations

import contextlib
import hashlib
import json
import math
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterator

import torch

from hmworld.configs.model import ModelConfig, as_model_config  # noqa: F401 (ModelConfig: re-exported)
from hmworld.devices import torch_dtype
from hmworld.errors import ConfigError
from hmworld.split.format import one_line


def to_plain(cfg: Any) -> Any:
    """OmegaConf config -> plain Python containers (dicts and lists), anything else unchanged."""
    try:
        from omegaconf import DictConfig, ListConfig, OmegaConf

        if isinstance(cfg, (DictConfig, ListConfig)):
            return OmegaConf.to_container(cfg, resolve=True)
    except ImportError:  # pragma: no cover - omegaconf is a base dependency
        pass
    return cfg


def dtype_of(name: str | None, default: torch.dtype = torch.float32) -> torch.dtype:
    return default if name is None else torch_dtype(name)


def digest(obj: Any, n: int = 16) -> str:
    """Short stable hash of a JSON-able object (sorted keys)."""
    blob = json.dumps(obj, sort_keys=True, separators=(",", ":"), default=str).encode()
    return hashlib.sha256(blob).hexdigest()[:n]


@contextlib.contextmanager
def seeded(seed: int) -> Iterator[None]:
    """Run a block with the global torch RNG seeded, restoring the caller's RNG state afterwards.

    diffusers' and transformers' layers draw their initialisation from the global generator and take no
    `generator=` argument, so a seeded fork is the only way to make a random init a pure function of the config
    without disturbing anyone else's random stream.
    """
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(int(seed))
        yield


def _local_or_hub(path: str, what: str, key: str) -> Path:
    """A local folder, or a Hugging Face repo id from the standard cache, downloaded only where the toolkit's one
    offline policy allows (hmworld.weights); the error names `key`, where it looked and the fix."""
    from hmworld.weights import resolve_folder

    return resolve_folder(str(path), setting=key, what=what).folder


def pretrained_parts(model_cfg) -> list[tuple[str, str, str, str | None, str | None, tuple[str, ...]]]:
    """The pretrained weights a model config loads, without loading or fetching anything (none for the tiny
    configuration), for `hmworld weights`: (key, what, setting, folder or repo id, subfolder, files it must hold)."""
    from hmworld.configs.model import as_model_config

    m = as_model_config(model_cfg)
    t, v, x = m.transformer, m.vae, m.text_encoder
    parts = []
    if t.pretrained:
        parts.append(("transformer", "Wan transformer", "model.transformer.pretrained", t.pretrained, t.subfolder,
                      ("config.json",)))
    if t.hydra_checkpoint:
        parts.append(("hydra_checkpoint", "released HyDRA checkpoint", "model.transformer.hydra_checkpoint",
                      t.hydra_checkpoint, None, ()))
    if v.kind == "wan" and v.pretrained:
        parts.append(("vae", "Wan VAE (AutoencoderKLWan)", "model.vae.pretrained", v.pretrained, v.subfolder,
                      ("config.json",)))
    if x.kind == "umt5":
        parts.append(("text_encoder", "UMT5 text encoder", "model.text_encoder.pretrained", x.pretrained,
                      x.subfolder, ("config.json",)))
        parts.append(("tokenizer", "UMT5 tokenizer", "model.text_encoder.tokenizer", x.tokenizer or x.pretrained,
                      x.tokenizer_subfolder, ("tokenizer_config.json",)))
    return parts


def _files_identity(folder: Path) -> list:
    """Names and sizes of the files that define a pretrained component (cheap: no hashing of GiB-sized weights)."""
    out = []
    for f in sorted(folder.rglob("*")):
        if f.is_file() and not f.name.startswith("."):
            if f.suffix in (".json", ".model", ".txt"):
                out.append([str(f.relative_to(folder)), hashlib.sha256(f.read_bytes()).hexdigest()[:16]])
            else:
                out.append([str(f.relative_to(folder)), f.stat().st_size])
    return out


def _subfolder(path: Path, sub: str | None) -> Path:
    return path / sub if sub else path


def _from_pretrained(cls, folder: Path, subfolder: str | None, key: str, what: str, **kwargs):
    """``cls.from_pretrained(folder)``; a folder that does not hold `what` is reported as the fault of the
    config key `key` (transformers and diffusers raise OSError or ValueError for missing or malformed files)."""
    if subfolder:
        kwargs["subfolder"] = subfolder
    try:
        return cls.from_pretrained(str(folder), **kwargs)
    except (OSError, ValueError) as exc:
        raise ConfigError(f"{key}={folder}: cannot load {what} from it ({exc})") from exc


# ----------------------------------------------------------------------------------------------- transformer
def build_transformer(model_cfg, *, seed: int = 0):
    """`HyDRATransformer3DModel` from ``model.transformer``: Wan weights when ``pretrained`` names them, else a
    seeded random init of ``config`` (float32, for from-scratch training)."""
    from .transformer_hydra import HyDRATransformer3DModel

    t = as_model_config(model_cfg).transformer
    config = dict(t.config)
    for key in ("patch_size", "memory_kernel", "fov_depths"):
        if key in config and config[key] is not None:
            config[key] = tuple(config[key])
    dtype = dtype_of(t.dtype, torch.float32)
    if t.pretrained:
        folder = _local_or_hub(t.pretrained, "Wan transformer weights", "model.transformer.pretrained")
        folder = _subfolder(folder, t.subfolder)
        hydra_keys = {k: v for k, v in config.items() if k in HyDRATransformer3DModel.HYDRA_CONFIG_KEYS}
        gen = torch.Generator().manual_seed(int(seed))
        model = HyDRATransformer3DModel.from_wan_pretrained(
            folder, torch_dtype=dtype, hydra_checkpoint=t.hydra_checkpoint, generator=gen, **hydra_keys)
        return model
    if not config:
        raise ConfigError("model.transformer: give either `pretrained` (Wan weights) or `config` (random init)")
    with seeded(seed):
        model = HyDRATransformer3DModel(**config)
    if t.hydra_checkpoint:
        from .checkpoint import load_hydra_checkpoint

        load_hydra_checkpoint(model, t.hydra_checkpoint)
    return model if dtype == torch.float32 else model.to(dtype)


def transformer_uses_memory(model_cfg) -> tuple[bool, int]:
    """(whether the retrieval mode reads memory tokens, the tokenizer's temporal stride)."""
    # the keys of transformer.config are HyDRATransformer3DModel's arguments; these defaults are its own
    config = as_model_config(model_cfg).transformer.config
    mode = config.get("retrieval_mode", "dynamic")
    kernel = config.get("memory_kernel") or (2, 2, 2)
    return mode in ("dynamic", "fov"), int(kernel[0])


# ----------------------------------------------------------------------------------------------- VAE
VAE_SPATIAL_STRIDE = 8
VAE_TEMPORAL_STRIDE = 4


class LatentVAE:
    """AutoencoderKLWan plus Wan's latent normalisation (as diffusers' Wan pipelines apply it).

    diffusers' VAE returns raw latents (DiffSynth's returns normalised ones); the DiT works on normalised
    latents, so `encode` returns ``(mode - mean) / std`` and `decode` undoes it. The posterior's mode (its mean)
    is used rather than a sample, so a clip's cache entry is a deterministic function of the clip.
    """

    def __init__(self, vae, dtype: torch.dtype):
        self.vae = vae.eval().requires_grad_(False)
        self.dtype = dtype
        z = int(vae.config.z_dim)
        self.mean = torch.tensor(vae.config.latents_mean, dtype=torch.float32).view(1, z, 1, 1, 1)
        self.std = torch.tensor(vae.config.latents_std, dtype=torch.float32).view(1, z, 1, 1, 1)
        self.z_dim = z

    @property
    def device(self):
        return next(self.vae.parameters()).device

    def to(self, device) -> "LatentVAE":
        self.vae.to(device)
        return self

    @torch.no_grad()
    def encode(self, video: torch.Tensor) -> torch.Tensor:
        """``[B, 3, T, H, W]`` in [-1, 1] (T = 4k+1) -> normalised latents ``[B, z, k+1, H/8, W/8]`` float32."""
        dist = self.vae.encode(video.to(self.device, self.dtype)).latent_dist
        z = dist.mode().float()
        return (z - self.mean.to(z.device)) / self.std.to(z.device)

    @torch.no_grad()
    def decode(self, latents: torch.Tensor) -> torch.Tensor:
        """Normalised latents -> video ``[B, 3, T, H, W]`` in [-1, 1] float32."""
        z = latents.float() * self.std.to(latents.device) + self.mean.to(latents.device)
        out = self.vae.decode(z.to(self.device, self.dtype)).sample
        return out.float().clamp(-1, 1)


VAE_KINDS = ("wan", "patch_pca")


def vae_kind(model_cfg) -> str:
    """``wan`` (diffusers' AutoencoderKLWan, the default) or ``patch_pca`` (the linear patch autoencoder fitted on
    the training split by `hmworld cache`, see `patch_autoencoder.py`)."""
    kind = as_model_config(model_cfg).vae.kind
    if kind not in VAE_KINDS:
        raise ConfigError(f"model.vae.kind={kind!r}: use one of {list(VAE_KINDS)}")
    return kind


def vae_z_dim(model_cfg) -> int | None:
    """Latent channels the configuration's VAE gives (None: read from the pretrained VAE's own config)."""
    v = as_model_config(model_cfg).vae
    if vae_kind(model_cfg) == "patch_pca":
        return int(v.channels)
    return (v.config or {}).get("z_dim")


def vae_identity(model_cfg) -> dict:
    v = as_model_config(model_cfg).vae
    if vae_kind(model_cfg) == "patch_pca":
        raise ConfigError("model.vae.kind=patch_pca: its identity depends on the split it is fitted on "
                          "(LatentCache computes it)")
    ident = {"class": "AutoencoderKLWan", "dtype": v.dtype}
    if v.pretrained:
        folder = _subfolder(_local_or_hub(v.pretrained, "VAE", "model.vae.pretrained"), v.subfolder)
        ident["files"] = _files_identity(folder)
    else:
        ident["config"] = v.config
        ident["seed"] = int(v.seed)
    return ident


def build_vae(model_cfg, device="cpu") -> LatentVAE:
    from diffusers import AutoencoderKLWan

    v = as_model_config(model_cfg).vae
    if vae_kind(model_cfg) == "patch_pca":
        raise ConfigError("model.vae.kind=patch_pca is fitted on the training split by `hmworld cache` and carried "
                          "by the checkpoint; it is not built from the config alone")
    dtype = dtype_of(v.dtype, torch.float32)
    if v.pretrained:
        folder = _local_or_hub(v.pretrained, "VAE", "model.vae.pretrained")
        vae = _from_pretrained(AutoencoderKLWan, folder, v.subfolder, "model.vae.pretrained", "an AutoencoderKLWan",
                               torch_dtype=dtype)
    else:
        if not v.config:
            raise ConfigError("model.vae: give either `pretrained` (a folder holding AutoencoderKLWan) or `config`")
        with seeded(int(v.seed)):
            vae = AutoencoderKLWan(**v.config)
        if dtype != torch.float32:
            vae = vae.to(dtype)
    if int(vae.config.z_dim) != len(vae.config.latents_mean) or int(vae.config.z_dim) != len(vae.config.latents_std):
        raise ConfigError(f"model.vae: latents_mean/latents_std must have z_dim={vae.config.z_dim} entries")
    return LatentVAE(vae.to(device), dtype)


# ----------------------------------------------------------------------------------------------- text
class HashedTextEncoder:
    """Weightless, deterministic caption embedding for CPU smoke runs (no download, no tokenizer files).

    Each lower-cased word is hashed (blake2b) into one of ``vocab`` buckets whose vector is drawn once from a
    generator seeded by ``seed``; a sinusoidal code of the word's position is added, so word order matters.
    It is no language model: it only gives the tiny configuration a caption signal to condition on.
    """

    def __init__(self, dim: int, max_length: int, vocab: int = 4096, seed: int = 0):
        self.dim, self.max_length, self.vocab = int(dim), int(max_length), int(vocab)
        g = torch.Generator().manual_seed(int(seed))
        self.table = torch.randn(self.vocab, self.dim, generator=g)
        pos = torch.arange(self.max_length, dtype=torch.float32)[:, None]
        freq = torch.exp(-math.log(10000.0) * torch.arange(0, self.dim, 2, dtype=torch.float32) / self.dim)
        pe = torch.zeros(self.max_length, self.dim)
        pe[:, 0::2] = torch.sin(pos * freq)
        pe[:, 1::2] = torch.cos(pos * freq)[:, : self.dim // 2]
        self.positions = pe
        self.dtype = torch.float32

    def _bucket(self, word: str) -> int:
        return int.from_bytes(hashlib.blake2b(word.encode(), digest_size=8).digest(), "little") % self.vocab

    def encode(self, captions: list[str]) -> list[torch.Tensor]:
        out = []
        for text in captions:
            words = re.findall(r"[a-z0-9]+", one_line(text).lower())[: self.max_length]
            if not words:
                out.append(torch.zeros(0, self.dim))
                continue
            idx = torch.tensor([self._bucket(w) for w in words])
            out.append(self.table[idx] + self.positions[: len(words)])
        return out


class UMT5TextEncoder:
    """UMT5 encoder (transformers) as Wan uses it: tokens up to ``max_length``, the last hidden state of the real
    tokens only (Wan zero-pads the rest to ``max_length``, which the collate step does)."""

    def __init__(self, encoder, tokenizer, max_length: int, dtype: torch.dtype):
        self.encoder = encoder.eval().requires_grad_(False)
        self.tokenizer = tokenizer
        self.max_length = int(max_length)
        self.dtype = dtype
        self.dim = int(encoder.config.d_model)

    @torch.no_grad()
    def encode(self, captions: list[str]) -> list[torch.Tensor]:
        device = next(self.encoder.parameters()).device
        tok = self.tokenizer([one_line(c) for c in captions], padding="max_length", max_length=self.max_length,
                             truncation=True, add_special_tokens=True, return_attention_mask=True, return_tensors="pt")
        ids, mask = tok.input_ids.to(device), tok.attention_mask.to(device)
        hidden = self.encoder(input_ids=ids, attention_mask=mask).last_hidden_state
        lengths = mask.sum(dim=1).tolist()
        return [hidden[i, : int(n)].to("cpu") for i, n in enumerate(lengths)]


def text_identity(model_cfg) -> dict:
    t = as_model_config(model_cfg).text_encoder
    ident = {"kind": t.kind, "max_length": int(t.max_length)}
    if t.kind == "hashed":
        ident.update(dim=int(t.dim), vocab=int(t.vocab), seed=int(t.seed))
    elif t.kind == "umt5":
        ident["dtype"] = t.dtype
        folder = _local_or_hub(t.pretrained, "UMT5 text encoder", "model.text_encoder.pretrained")
        ident["files"] = _files_identity(_subfolder(folder, t.subfolder))
        if t.tokenizer:
            ident["tokenizer"] = _files_identity(_subfolder(
                _local_or_hub(t.tokenizer, "tokenizer", "model.text_encoder.tokenizer"), t.tokenizer_subfolder))
    else:
        raise ConfigError(f"model.text_encoder.kind={t.kind!r}: use umt5 or hashed")
    return ident


def text_dim(model_cfg) -> int:
    """Width of the text embeddings the transformer expects (its ``text_dim``)."""
    return int(as_model_config(model_cfg).text_encoder.dim)


def build_text_encoder(model_cfg, device="cpu"):
    t = as_model_config(model_cfg).text_encoder
    if t.kind == "hashed":
        return HashedTextEncoder(t.dim, t.max_length, t.vocab, t.seed)
    if t.kind != "umt5":
        raise ConfigError(f"model.text_encoder.kind={t.kind!r}: use umt5 or hashed")
    from transformers import AutoTokenizer, UMT5EncoderModel

    if not t.pretrained:
        raise ConfigError("model.text_encoder.pretrained is required for kind=umt5 (a folder or repo id holding "
                          "UMT5EncoderModel weights, e.g. Wan2.1-T2V-1.3B-Diffusers with subfolder text_encoder)")
    dtype = dtype_of(t.dtype, torch.bfloat16)
    folder = _local_or_hub(t.pretrained, "UMT5 text encoder", "model.text_encoder.pretrained")
    tok_folder = _local_or_hub(t.tokenizer or t.pretrained, "tokenizer", "model.text_encoder.tokenizer")
    encoder = _from_pretrained(UMT5EncoderModel, folder, t.subfolder, "model.text_encoder.pretrained",
                               "a UMT5EncoderModel", torch_dtype=dtype)
    tokenizer = _from_pretrained(AutoTokenizer, tok_folder, t.tokenizer_subfolder, "model.text_encoder.tokenizer",
                                 "a tokenizer")
    return UMT5TextEncoder(encoder.to(device), tokenizer, t.max_length, dtype)


@dataclass(frozen=True)
class FrameGeometry:
    """What the model sees of a clip: frames per half and the frame size after resize/crop."""

    context_frames: int
    target_frames: int
    height: int
    width: int

    @property
    def context_latents(self) -> int:
        return (self.context_frames - 1) // VAE_TEMPORAL_STRIDE + 1

    @property
    def target_latents(self) -> int:
        return (self.target_frames - 1) // VAE_TEMPORAL_STRIDE + 1

    @property
    def latent_hw(self) -> tuple[int, int]:
        return self.height // VAE_SPATIAL_STRIDE, self.width // VAE_SPATIAL_STRIDE
