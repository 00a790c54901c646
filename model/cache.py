"""Per-clip caches of VAE latents and caption embeddings (safetensors), what the trainer reads.

Layout (default root ``<split>/cache``; any folder with ``cache_dir=``)::

    <root>/clips/<clip_id>/latents-<vae id>-<content key>.safetensors   latents [z, Lc+Lt, h, w] (normalised, float32)
                                                                        + camera [Lc+Lt, 12] (float32)
    <root>/clips/<clip_id>/text-<encoder id>-<caption key>.safetensors  text [tokens, dim] (the encoder's dtype)

* ``<vae id>`` / ``<encoder id>`` hash the component's identity (config, weight file names and sizes, dtype), so
  several model configurations share one cache folder without clashing.
* the content key hashes the video's sha256 (from the manifest), camera.json's bytes and the frame geometry;
  the caption key hashes the caption text. Re-captioning a split therefore invalidates exactly the text entries
  of the clips whose caption changed; a re-rendered clip invalidates its latents. When an entry is rewritten, the
  stale entry of the same component for that clip is removed.
* entries are written to a temporary name and renamed into place, so a killed run leaves only whole entries
  (and at most hidden temporaries, removed by the next run); a rerun encodes only what is missing.
"""
from __future__ import annotations

import hashlib
import json
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

import torch

from hmworld.errors import ConfigError, SplitError
from hmworld.fsutil import atomic_write_bytes
from hmworld.progress import NO_COUNT, SILENT, Progress
from hmworld.split import Split
from hmworld.split.format import one_line

from .components import (as_model_config, build_text_encoder, build_vae, digest, text_identity,
                         vae_identity, vae_kind)
from .dataset import clip_camera, geometry_for, resize_crop

CACHE_FORMAT = 1


@dataclass
class CacheReport:
    root: Path
    clips: int
    latents_encoded: int = 0
    text_encoded: int = 0
    latents_skipped: int = 0
    text_skipped: int = 0
    stale_removed: int = 0
    seconds_latents: float = 0.0
    seconds_text: float = 0.0
    encoded_ids: list = field(default_factory=list)
    autoencoder: Path | None = None  # patch_pca: the fitted autoencoder file
    autoencoder_fitted: bool = False  # fitted in this run (else loaded)
    autoencoder_meta: dict | None = None  # its metadata (held-out PSNR, clips, settings)
    seconds_fit: float = 0.0


class LatentCache:
    def __init__(self, split: Split | str | Path, model_cfg, cache_dir: str | Path | None = None,
                 autoencoder_identity: str | None = None):
        """``autoencoder_identity`` (patch_pca only): key the latents by this fitted autoencoder instead of the one
        of this split (generation passes its checkpoint's, so a test split's cache is used only when it was
        encoded with the training split's autoencoder)."""
        self.split = split if isinstance(split, Split) else Split(split)
        self.model_cfg = model_cfg
        self.root = Path(cache_dir) if cache_dir else self.split.root / "cache"
        self.geometry = geometry_for(self.split, model_cfg)
        self.kind = vae_kind(model_cfg)
        self.autoencoder_path: Path | None = None
        self.autoencoder_explicit = False
        if self.kind == "patch_pca":
            self.vae_ident = {"format": CACHE_FORMAT, "kind": "patch_pca",
                              "identity": autoencoder_identity or self._autoencoder_identity()}
        else:
            self.vae_ident = {"format": CACHE_FORMAT, **vae_identity(model_cfg)}
        self.text_ident = {"format": CACHE_FORMAT, **text_identity(model_cfg)}
        self.vae_id = digest(self.vae_ident, 8)
        self.text_id = digest(self.text_ident, 8)
        self.max_length = int(self.text_ident["max_length"])

    # ------------------------------------------------------------------------------------------ autoencoder
    def _autoencoder_identity(self) -> str:
        """patch_pca: the file to use and the identity it must have. Default: fitted on this split, stored as
        ``<cache>/autoencoder-pca-<settings key>.safetensors``; ``model.vae.file``: an autoencoder fitted elsewhere
        (e.g. the training split's, to encode a test split), taken as it is."""
        from .patch_autoencoder import FitSettings, fit_identity, read_meta

        vcfg = as_model_config(self.model_cfg).vae
        settings = FitSettings.from_cfg(vcfg)
        if vcfg.file:
            self.autoencoder_path, self.autoencoder_explicit = Path(vcfg.file), True
            meta = read_meta(self.autoencoder_path)
            got = int((meta.get("settings") or {}).get("channels", -1))
            if got != settings.channels:
                raise ConfigError(f"model.vae.file={vcfg.file}: fitted with {got} channels, but "
                                  f"model.vae.channels={settings.channels}")
            if "identity" not in meta:
                raise ConfigError(f"model.vae.file={vcfg.file}: no identity in its metadata: not written by "
                                  "`hmworld cache`")
            return meta["identity"]
        g = self.geometry
        key = digest({"settings": settings.__dict__, "geometry": [g.context_frames, g.target_frames, g.height,
                                                                   g.width]}, 8)
        self.autoencoder_path = self.root / f"autoencoder-pca-{key}.safetensors"
        clips = [(str(r.clip_id), str(r.video_sha256)) for r in self.split.manifest.itertuples()]
        return fit_identity(clips, g, settings)

    def autoencoder(self, *, fit_missing: bool = False, progress: Callable[[], None] = NO_COUNT.advance):
        """The patch autoencoder of this cache: loaded and checked for identity, or (``fit_missing``) fitted on the
        split and saved atomically. Returns ``(autoencoder, fitted)``."""
        from .patch_autoencoder import FitSettings, PatchAutoencoder, fit, holdout_ids

        path, want = self.autoencoder_path, self.vae_ident["identity"]
        if path is None:
            raise ConfigError("LatentCache was given the autoencoder's identity only; it has no file to load")
        if path.is_file():
            ae = PatchAutoencoder.load(path)
            if ae.identity != want:
                raise ConfigError(
                    f"{path}: fitted on other clips or settings (identity {ae.identity}, this split and model.vae "
                    f"settings give {want}); delete it to refit, or pass model.vae.file=<the autoencoder to use>")
            return ae, False
        if self.autoencoder_explicit or not fit_missing:
            raise SplitError(f"{path}: patch autoencoder missing; run `hmworld cache split={self.split.root}` with "
                             "the same model settings first")
        settings = FitSettings.from_cfg(as_model_config(self.model_cfg).vae)
        g = self.geometry
        held = set(holdout_ids(self.split.clip_ids, settings.holdout_fraction, settings.seed))
        clips = list(self.split)
        ae = fit([c for c in clips if c.clip_id not in held], self._decoded, g, settings, want,
                 heldout=[c for c in clips if c.clip_id in held], progress=progress)
        ae.save(path)
        return ae, True

    def z_dim_label(self) -> str:
        return f"{as_model_config(self.model_cfg).vae.channels} channels"

    def _decoded(self, clip) -> torch.Tensor:
        g = self.geometry
        frames = clip.frames(0, g.context_frames + g.target_frames)
        if len(frames) != g.context_frames + g.target_frames:
            raise SplitError(f"{clip.video_path}: {len(frames)} frames decoded, the manifest says "
                             f"context_frames + target_frames = {g.context_frames + g.target_frames}")
        return resize_crop(frames, g.height, g.width)

    # ------------------------------------------------------------------------------------------ keys
    def clip_dir(self, clip) -> Path:
        return self.root / "clips" / clip.clip_id

    def latent_key(self, clip) -> str:
        cam = clip.path("camera_path")
        if not cam.is_file():
            raise SplitError(f"{cam}: missing (clip {clip.clip_id} of split {self.split.root})")
        g = self.geometry
        return digest({"vae": self.vae_id, "video_sha256": clip.row["video_sha256"],
                       "camera_sha256": hashlib.sha256(cam.read_bytes()).hexdigest(),
                       "geometry": [g.context_frames, g.target_frames, g.height, g.width]})

    def text_key(self, clip) -> str:
        return digest({"encoder": self.text_id, "caption": one_line(clip.caption)})

    def latent_path(self, clip) -> Path:
        return self.clip_dir(clip) / f"latents-{self.vae_id}-{self.latent_key(clip)}.safetensors"

    def text_path(self, clip) -> Path:
        return self.clip_dir(clip) / f"text-{self.text_id}-{self.text_key(clip)}.safetensors"

    def missing(self) -> list[str]:
        return [c.clip_id for c in self.split if not (self.latent_path(c).is_file() and self.text_path(c).is_file())]

    # ------------------------------------------------------------------------------------------ read
    def load(self, clip) -> dict:
        from safetensors.torch import load_file

        lp, tp = self.latent_path(clip), self.text_path(clip)
        for p in (lp, tp):
            if not p.is_file():
                raise SplitError(f"{p}: cache entry missing for clip {clip.clip_id}; run `hmworld cache "
                                 f"split={self.split.root}` with the same model settings")
        lat = load_file(str(lp))
        txt = load_file(str(tp))
        return {"latents": lat["latents"], "camera": lat["camera"], "text": txt["text"],
                "num_context": self.geometry.context_latents, "clip_id": clip.clip_id}

    def load_latents(self, clip) -> torch.Tensor:
        from safetensors.torch import load_file

        return load_file(str(self.latent_path(clip)))["latents"]

    def load_text(self, clip) -> torch.Tensor:
        from safetensors.torch import load_file

        return load_file(str(self.text_path(clip)))["text"]

    # ------------------------------------------------------------------------------------------ write
    def _write(self, path: Path, tensors: dict, meta: dict) -> int:
        from safetensors.torch import save

        path.parent.mkdir(parents=True, exist_ok=True)
        atomic_write_bytes(path, save({k: v.contiguous() for k, v in tensors.items()},
                                      metadata={k: json.dumps(v) for k, v in meta.items()}))
        # The entry just written replaces any other entry of the same component for this clip.
        prefix = path.name.rsplit("-", 1)[0] + "-"
        removed = 0
        for old in path.parent.glob(prefix + "*.safetensors"):
            if old != path:
                old.unlink(missing_ok=True)
                removed += 1
        return removed

    def _clean_temporaries(self) -> None:
        clips = self.root / "clips"
        if clips.is_dir():
            for tmp in clips.glob("*/.*.tmp"):  # left by a run killed mid-write (atomic_write_bytes' temp names)
                tmp.unlink(missing_ok=True)

    def build(self, *, device: str = "cpu", text_batch: int = 8, progress: Progress = SILENT,
              limit: int | None = None) -> CacheReport:
        """Encode every clip whose latents or text entry is missing; skip the rest. Returns what was done.
        `progress` counts "captions", "clips (VAE)" and, when the patch autoencoder is fitted, the clips read."""
        self._clean_temporaries()
        report = CacheReport(self.root, len(self.split))
        clips = list(self.split)
        need_lat = [c for c in clips if not self.latent_path(c).is_file()]
        need_txt = [c for c in clips if not self.text_path(c).is_file()]
        if limit is not None:
            need_lat, need_txt = need_lat[: int(limit)], need_txt[: int(limit)]
        report.latents_skipped = len(clips) - len(need_lat)
        report.text_skipped = len(clips) - len(need_txt)
        texts, latents_done = progress.start("captions", len(need_txt)), progress.start("clips (VAE)", len(need_lat))
        try:
            vae = None
            if self.kind == "patch_pca":
                # Always present after a run (the trainer copies it into checkpoints); fitting is deterministic,
                # so a deleted file is refitted identically.
                t0 = time.perf_counter()
                with progress.start("autoencoder fit (clips)") as fitting:
                    vae, report.autoencoder_fitted = self.autoencoder(fit_missing=True, progress=fitting.advance)
                report.autoencoder, report.autoencoder_meta = self.autoencoder_path, dict(vae.meta)
                report.seconds_fit = time.perf_counter() - t0
            if need_txt:
                t0 = time.perf_counter()
                enc = build_text_encoder(self.model_cfg, device=device)
                for i in range(0, len(need_txt), max(1, int(text_batch))):
                    batch = need_txt[i: i + max(1, int(text_batch))]
                    embs = enc.encode([c.caption for c in batch])
                    for clip, emb in zip(batch, embs):
                        report.stale_removed += self._write(
                            self.text_path(clip), {"text": emb.contiguous()},
                            {"clip_id": clip.clip_id, "caption": one_line(clip.caption), "identity": self.text_ident})
                        report.text_encoded += 1
                    texts.advance(len(batch))
                del enc
                report.seconds_text = time.perf_counter() - t0
            if need_lat:
                t0 = time.perf_counter()
                vae = vae.to(device) if vae is not None else build_vae(self.model_cfg, device=device)
                g = self.geometry
                for clip in need_lat:
                    video = self._decoded(clip)[None]
                    # Each half is encoded on its own (as the released pipeline does): the first frame of the target
                    # half gets its own latent instead of being folded into a context group.
                    z_ctx = vae.encode(video[:, :, : g.context_frames])[0]
                    z_tgt = vae.encode(video[:, :, g.context_frames:])[0]
                    latents = torch.cat([z_ctx, z_tgt], dim=1).cpu()
                    expected = (vae.z_dim, g.context_latents + g.target_latents, *g.latent_hw)
                    if tuple(latents.shape) != expected:
                        raise SplitError(f"clip {clip.clip_id}: VAE gave latents {tuple(latents.shape)}, expected "
                                         f"{expected} (is the VAE's temporal/spatial stride 4/8?)")
                    report.stale_removed += self._write(
                        self.latent_path(clip), {"latents": latents, "camera": clip_camera(clip, g)},
                        {"clip_id": clip.clip_id, "num_context": g.context_latents, "identity": self.vae_ident})
                    report.latents_encoded += 1
                    report.encoded_ids.append(clip.clip_id)
                    latents_done.advance()
                report.seconds_latents = time.perf_counter() - t0
        finally:
            texts.close()
            latents_done.close()
        return report

