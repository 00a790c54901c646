"""A linear (PCA) patch autoencoder with the Wan VAE's strides: the tiny configuration's VAE.

The tiny model cannot use Wan's VAE (no weights here) and a randomly initialised `AutoencoderKLWan` is not an
autoencoder (its decoder is not its encoder's inverse: the ground truth passed through it scores ~10 dB PSNR). This
one is fitted, in closed form, on the training split:

* **Layout** (what the rest of the code expects of Wan's VAE): each half of a clip, 4k+1 frames, becomes k+1 latent
  frames; latent frame 0 is the first video frame alone, latent frame j >= 1 the video frames 4j-3 .. 4j; each
  latent pixel is one 8 x 8 block of pixels. So there are two kinds of patch: the first frame's (3 x 8 x 8 = 192
  numbers) and a group's (3 x 4 x 8 x 8 = 768 numbers), each with its own basis.
* **Encoder / decoder**: ``z = U^T (x - mean) / scale`` and ``x = U z scale + mean`` with ``U`` the top
  ``channels`` principal directions (orthonormal), so the decoder is the exact inverse of the encoder on the
  principal subspace and reconstruction error is what the discarded directions hold.
* **Normalisation** (``normalise``): ``channel`` (default) divides each coefficient by its standard deviation on
  the fitting patches (the square root of its eigenvalue), so every latent channel has variance 1, as Wan's
  per-channel ``latents_std`` does; ``global`` divides all by one scale (``sqrt`` of the mean kept eigenvalue), which
  keeps the latent MSE proportional to the pixel MSE but leaves the first direction (mean brightness) with ~35x
  the noise's variance and the faint ones with ~1/100: measured, a 1,000-step tiny model then samples noise
  (TRAINING.md).
* **Fit** (deterministic): the fitting clips are decoded at the model's geometry; from each clip at most
  ``ceil(max_patches / clips)`` patches of each kind are drawn by a generator seeded by (seed, clip id), so a clip's
  sample depends on nothing else; mean and covariance are accumulated in float64 and decomposed by a float64 SVD;
  each direction's sign is fixed (largest-magnitude entry positive). A fraction of the clips (drawn by the seeded
  generator) is held out: the reconstruction PSNR on them is the ceiling any model using this autoencoder can
  reach.
* **File**: safetensors (bases, means, scales, eigenvalues) with metadata: the *identity* (a hash of the fitting
  clips' ids and video hashes, the geometry and every fit setting), a hash of the tensors, and the held-out PSNR.
  Written atomically; loading checks the tensors' hash, and `LatentCache` checks the identity against the one the
  current split and settings give (a mismatch is a `ConfigError` naming both).
"""
from __future__ import annotations

import hashlib
import json
import math
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Sequence

import numpy as np
import torch

from hmworld.configs.model import VAEConfig, VAEFitConfig
from hmworld.errors import ConfigError
from hmworld.fsutil import atomic_write_bytes
from hmworld.progress import NO_COUNT

from .components import VAE_SPATIAL_STRIDE, VAE_TEMPORAL_STRIDE, FrameGeometry, digest

FORMAT = 1
KINDS = ("first", "group")  # the first frame of a half alone; then groups of VAE_TEMPORAL_STRIDE frames
PATCH = VAE_SPATIAL_STRIDE


def patch_dim(kind: str) -> int:
    return 3 * PATCH * PATCH * (1 if kind == "first" else VAE_TEMPORAL_STRIDE)


# ------------------------------------------------------------------------------------------------ patches
def first_patches(video: torch.Tensor) -> torch.Tensor:
    """``[B, 3, T, H, W]`` -> the first frame's patches ``[B, h, w, 3*8*8]`` (order c, y, x)."""
    b, c, _, hh, ww = video.shape
    h, w = hh // PATCH, ww // PATCH
    x = video[:, :, 0].reshape(b, c, h, PATCH, w, PATCH)
    return x.permute(0, 2, 4, 1, 3, 5).reshape(b, h, w, c * PATCH * PATCH)


def group_patches(video: torch.Tensor) -> torch.Tensor:
    """``[B, 3, 4k+1, H, W]`` -> patches of frames 1.. in groups of 4: ``[B, k, h, w, 3*4*8*8]`` (order c, t, y, x)."""
    b, c, t, hh, ww = video.shape
    k, h, w, s = (t - 1) // VAE_TEMPORAL_STRIDE, hh // PATCH, ww // PATCH, VAE_TEMPORAL_STRIDE
    x = video[:, :, 1:].reshape(b, c, k, s, h, PATCH, w, PATCH)
    return x.permute(0, 2, 4, 6, 1, 3, 5, 7).reshape(b, k, h, w, c * s * PATCH * PATCH)


def unfirst(p: torch.Tensor) -> torch.Tensor:
    """Inverse of `first_patches`: ``[B, h, w, 192]`` -> ``[B, 3, 1, H, W]``."""
    b, h, w, _ = p.shape
    x = p.reshape(b, h, w, 3, PATCH, PATCH).permute(0, 3, 1, 4, 2, 5)
    return x.reshape(b, 3, 1, h * PATCH, w * PATCH)


def ungroup(p: torch.Tensor) -> torch.Tensor:
    """Inverse of `group_patches`: ``[B, k, h, w, 768]`` -> ``[B, 3, 4k, H, W]``."""
    b, k, h, w, _ = p.shape
    s = VAE_TEMPORAL_STRIDE
    x = p.reshape(b, k, h, w, 3, s, PATCH, PATCH).permute(0, 4, 1, 5, 2, 6, 3, 7)
    return x.reshape(b, 3, k * s, h * PATCH, w * PATCH)


def check_video(video: torch.Tensor) -> None:
    if video.ndim != 5 or video.shape[1] != 3:
        raise ValueError(f"video must be [B, 3, T, H, W], got {tuple(video.shape)}")
    t, hh, ww = video.shape[2:]
    if (t - 1) % VAE_TEMPORAL_STRIDE or hh % PATCH or ww % PATCH:
        raise ValueError(f"video of {t} frames at {ww}x{hh}: needs 4k+1 frames and a size divisible by {PATCH}")


# ------------------------------------------------------------------------------------------------ model
@dataclass
class Basis:
    mean: torch.Tensor  # [D]
    components: torch.Tensor  # [C, D], orthonormal rows
    eigenvalues: torch.Tensor  # [C], variance of each coefficient on the fitting patches
    scale: torch.Tensor  # [C]; latents = coefficients / scale


class PatchAutoencoder:
    """Encode/decode with the interface of `LatentVAE` (normalised latents in, [-1, 1] video out)."""

    def __init__(self, bases: dict[str, Basis], meta: dict):
        self.bases = bases
        self.meta = meta
        self.z_dim = int(bases["group"].components.shape[0])
        self._device = torch.device("cpu")

    @property
    def device(self):
        return self._device

    @property
    def identity(self) -> str:
        return self.meta["identity"]

    def to(self, device) -> "PatchAutoencoder":
        self._device = torch.device(device)
        for b in self.bases.values():
            b.mean, b.components = b.mean.to(self._device), b.components.to(self._device)
            b.scale = b.scale.to(self._device)
        return self

    @torch.no_grad()
    def encode(self, video: torch.Tensor) -> torch.Tensor:
        """``[B, 3, 4k+1, H, W]`` in [-1, 1] -> latents ``[B, C, k+1, H/8, W/8]`` float32."""
        check_video(video)
        video = video.to(self._device, torch.float32)
        f, g = self.bases["first"], self.bases["group"]
        z0 = (first_patches(video) - f.mean) @ f.components.T / f.scale  # [B, h, w, C]
        zg = (group_patches(video) - g.mean) @ g.components.T / g.scale  # [B, k, h, w, C]
        return torch.cat([z0[:, None], zg], dim=1).permute(0, 4, 1, 2, 3).contiguous()

    @torch.no_grad()
    def decode(self, latents: torch.Tensor) -> torch.Tensor:
        """Latents ``[B, C, k+1, h, w]`` -> video ``[B, 3, 4k+1, 8h, 8w]`` in [-1, 1] float32."""
        if latents.ndim != 5 or latents.shape[1] != self.z_dim:
            raise ValueError(f"latents must be [B, {self.z_dim}, F, h, w], got {tuple(latents.shape)}")
        z = latents.to(self._device, torch.float32).permute(0, 2, 3, 4, 1)  # [B, F, h, w, C]
        f, g = self.bases["first"], self.bases["group"]
        x0 = unfirst(z[:, 0] * f.scale @ f.components + f.mean)
        xg = ungroup(z[:, 1:] * g.scale @ g.components + g.mean)
        return torch.cat([x0, xg], dim=2).clamp(-1, 1)

    def reconstruct(self, video: torch.Tensor) -> torch.Tensor:
        return self.decode(self.encode(video))

    # -------------------------------------------------------------------------------------------- file
    def tensors(self) -> dict[str, torch.Tensor]:
        out = {}
        for kind, b in self.bases.items():
            out[f"{kind}.mean"] = b.mean.detach().cpu().float().contiguous()
            out[f"{kind}.components"] = b.components.detach().cpu().float().contiguous()
            out[f"{kind}.eigenvalues"] = b.eigenvalues.detach().cpu().double().contiguous()
            out[f"{kind}.scale"] = b.scale.detach().cpu().float().contiguous()
        return out

    def to_bytes(self) -> bytes:
        from safetensors.torch import save

        tensors = self.tensors()
        meta = {**self.meta, "tensors_sha256": tensors_digest(tensors), "format": FORMAT}
        return save(tensors, metadata={"hmworld": json.dumps(meta, sort_keys=True)})

    def save(self, path: str | Path) -> Path:
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        atomic_write_bytes(path, self.to_bytes())
        return path

    @classmethod
    def from_tensors(cls, tensors: dict, meta: dict, where: str = "autoencoder") -> "PatchAutoencoder":
        want = meta.get("tensors_sha256")
        if want is not None and tensors_digest(tensors) != want:
            raise ConfigError(f"{where}: its tensors do not match the hash recorded in it (corrupted or edited); "
                              "delete it and run `hmworld cache` again")
        try:
            bases = {k: Basis(tensors[f"{k}.mean"].float(), tensors[f"{k}.components"].float(),
                              tensors[f"{k}.eigenvalues"].double(), tensors[f"{k}.scale"].float()) for k in KINDS}
        except KeyError as exc:
            raise ConfigError(f"{where}: tensor {exc} missing: not a patch autoencoder file") from exc
        return cls(bases, meta)

    @classmethod
    def load(cls, path: str | Path) -> "PatchAutoencoder":
        from safetensors import safe_open

        path = Path(path)
        if not path.is_file():
            raise ConfigError(f"{path}: patch autoencoder file not found")
        try:
            with safe_open(str(path), framework="pt") as f:
                meta = json.loads((f.metadata() or {}).get("hmworld", "{}"))
                tensors = {k: f.get_tensor(k) for k in f.keys()}
        except Exception as exc:  # truncated, not safetensors
            raise ConfigError(f"{path}: not a readable patch autoencoder file ({type(exc).__name__}: {exc})") from exc
        if meta.get("format") != FORMAT or "identity" not in meta:
            raise ConfigError(f"{path}: metadata `hmworld` (format {FORMAT}, identity) missing: not written by "
                              "`hmworld cache`")
        return cls.from_tensors(tensors, meta, where=str(path))


def tensors_digest(tensors: dict[str, torch.Tensor]) -> str:
    h = hashlib.sha256()
    for k in sorted(tensors):
        t = tensors[k].detach().cpu().contiguous()
        h.update(k.encode())
        h.update(str(t.dtype).encode())
        h.update(json.dumps(list(t.shape)).encode())
        h.update(t.view(torch.uint8).numpy().tobytes() if t.numel() else b"")
    return h.hexdigest()[:16]


def read_meta(path: str | Path) -> dict:
    """The metadata of an autoencoder file (identity, settings, held-out PSNR) without reading its tensors."""
    from safetensors import safe_open

    path = Path(path)
    if not path.is_file():
        raise ConfigError(f"{path}: patch autoencoder file not found")
    try:
        with safe_open(str(path), framework="pt") as f:
            return json.loads((f.metadata() or {}).get("hmworld", "{}"))
    except Exception as exc:
        raise ConfigError(f"{path}: not a readable patch autoencoder file ({type(exc).__name__}: {exc})") from exc


# ------------------------------------------------------------------------------------------------ settings
@dataclass(frozen=True)
class FitSettings:
    """What a fit depends on (part of the autoencoder's identity); defaults are model.vae's (VAEConfig)."""

    channels: int = VAEConfig.channels
    max_patches: int = VAEFitConfig.max_patches
    holdout_fraction: float = VAEFitConfig.holdout_fraction
    seed: int = VAEFitConfig.seed
    normalise: str = VAEConfig.normalise

    @classmethod
    def from_cfg(cls, v: VAEConfig) -> "FitSettings":
        """From the typed `model.vae` (hmworld.configs.model.VAEConfig: the defaults live there)."""
        s = cls(int(v.channels), int(v.fit.max_patches), float(v.fit.holdout_fraction), int(v.fit.seed),
                str(v.normalise))
        if s.normalise not in ("channel", "global"):
            raise ConfigError(f"model.vae.normalise={s.normalise!r}: use channel or global")
        if not 1 <= s.channels <= patch_dim("first"):
            raise ConfigError(f"model.vae.channels={s.channels}: between 1 and {patch_dim('first')} (the first "
                              "frame's 3 x 8 x 8 patch)")
        if s.max_patches < s.channels:
            raise ConfigError(f"model.vae.fit.max_patches={s.max_patches}: at least model.vae.channels={s.channels}")
        if not 0.0 <= s.holdout_fraction < 1.0:
            raise ConfigError(f"model.vae.fit.holdout_fraction={s.holdout_fraction}: in [0, 1)")
        return s


def holdout_ids(clip_ids: Sequence[str], fraction: float, seed: int) -> list[str]:
    """The held-out clips: ``round(n * fraction)`` (at least 1 when fraction > 0 and n >= 2, never all) drawn by a
    generator seeded by ``seed`` from the sorted ids."""
    ids = sorted(clip_ids)
    n = len(ids)
    if fraction <= 0 or n < 2:
        return []
    k = min(n - 1, max(1, round(n * fraction)))
    order = np.random.default_rng(int(seed)).permutation(n)
    return sorted(ids[i] for i in order[:k])


def fit_identity(clips: Sequence[tuple[str, str]], geometry: FrameGeometry, settings: FitSettings) -> str:
    """Hash of what the fit depends on: (clip id, video sha256) of every clip of the split, geometry, settings."""
    return digest({"format": FORMAT, "clips": sorted([list(c) for c in clips]),
                   "geometry": [geometry.context_frames, geometry.target_frames, geometry.height, geometry.width],
                   "settings": settings.__dict__})


# ------------------------------------------------------------------------------------------------ fit
class _Moments:
    """Running float64 sums for a mean and covariance."""

    def __init__(self, dim: int):
        self.n = 0
        self.s = torch.zeros(dim, dtype=torch.float64)
        self.ss = torch.zeros(dim, dim, dtype=torch.float64)

    def add(self, x: torch.Tensor) -> None:
        x = x.double()
        self.n += x.shape[0]
        self.s += x.sum(0)
        self.ss += x.T @ x

    def basis(self, channels: int, normalise: str = "channel") -> Basis:
        if self.n < 2:
            raise ConfigError("patch autoencoder: fewer than 2 patches to fit on")
        mean = self.s / self.n
        cov = self.ss / self.n - torch.outer(mean, mean)
        cov = (cov + cov.T) / 2
        u, s, _ = torch.linalg.svd(cov)  # symmetric PSD: singular vectors = eigenvectors, descending
        comps = u[:, :channels].T.clone()  # [C, D]
        # Sign convention: each direction's largest-magnitude entry is positive (SVD signs are arbitrary).
        idx = comps.abs().argmax(dim=1)
        sign = torch.sign(comps[torch.arange(channels), idx])
        comps *= sign[:, None]
        eig = s[:channels].clamp_min(0)
        if normalise == "channel":
            scale = eig.clamp_min(1e-12).sqrt()
        else:
            scale = torch.full((channels,), math.sqrt(max(float(eig.mean()), 1e-12)), dtype=torch.float64)
        return Basis(mean.float(), comps.float(), eig, scale.float())


def _draw(x: torch.Tensor, k: int, gen: np.random.Generator) -> torch.Tensor:
    if x.shape[0] <= k:
        return x
    return x[torch.from_numpy(np.sort(gen.choice(x.shape[0], size=k, replace=False)))]


def halves(video: torch.Tensor, context_frames: int) -> list[torch.Tensor]:
    """``[3, T, H, W]`` -> the two halves ``[1, 3, Th, H, W]``, encoded separately as the VAE does."""
    return [video[None, :, :context_frames], video[None, :, context_frames:]]


def fit(clips: Sequence, load: Callable, geometry: FrameGeometry, settings: FitSettings, identity: str,
        heldout: Sequence = (), progress: Callable[[], None] = NO_COUNT.advance) -> PatchAutoencoder:
    """Fit on ``clips`` (objects with ``clip_id``), reading each with ``load(clip) -> [3, T, H, W]`` in [-1, 1];
    the reconstruction PSNR on ``heldout`` (else on the fitting clips) goes into the metadata."""
    from hmworld.metrics.pixel import psnr

    if not clips:
        raise ConfigError("patch autoencoder: no clips to fit on")
    clips = sorted(clips, key=lambda c: c.clip_id)  # float64 sums in a fixed order: the same bits in any listing
    heldout = sorted(heldout, key=lambda c: c.clip_id)
    per_clip = math.ceil(settings.max_patches / len(clips))
    moments = {k: _Moments(patch_dim(k)) for k in KINDS}
    for clip in clips:
        gen = np.random.default_rng(int(digest([settings.seed, clip.clip_id], 15), 16))
        video = load(clip)
        for kind in KINDS:
            parts = []
            for half in halves(video, geometry.context_frames):
                p = first_patches(half) if kind == "first" else group_patches(half)
                parts.append(p.reshape(-1, p.shape[-1]))
            moments[kind].add(_draw(torch.cat(parts), per_clip, gen))
        progress()
    ae = PatchAutoencoder({k: moments[k].basis(settings.channels, settings.normalise) for k in KINDS},
                          {"identity": identity, "settings": settings.__dict__,
                           "geometry": [geometry.context_frames, geometry.target_frames, geometry.height,
                                        geometry.width],
                           "fit_clips": sorted(c.clip_id for c in clips),
                           "patches": {k: moments[k].n for k in KINDS}})
    eval_clips, on = (heldout, "held-out") if heldout else (clips, "fitting")
    values = []
    for clip in eval_clips:
        video = load(clip)
        for half in halves(video, geometry.context_frames):
            rec = ae.reconstruct(half)[0]
            values.append(psnr(to_uint8(rec), to_uint8(half[0])).value)
        progress()
    ae.meta.update(psnr_db=float(np.mean(values)), psnr_on=on, psnr_clips=sorted(c.clip_id for c in eval_clips))
    return ae


def to_uint8(video: torch.Tensor) -> np.ndarray:
    """``[3, T, H, W]`` in [-1, 1] -> uint8 ``[T, H, W, 3]`` (as generation writes frames)."""
    return ((video.clamp(-1, 1) + 1) * 127.5).round().to(torch.uint8).permute(1, 2, 3, 0).cpu().numpy()
