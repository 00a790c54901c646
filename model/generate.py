"""Generation: predict the target half of clips with a trained checkpoint (flow-matching Euler sampler).

Two forms:

* `generate_split`: every clip of a split -> ``<out>/<clip_id>.mp4`` (target frames only, at the split's size and
  fps) plus ``submission.yaml`` through the leaderboard's own `SubmissionInfo`, i.e. exactly the folder the
  leaderboard scores. Videos are written under a temporary name and renamed, so a killed run resumes clip by clip
  (``.<out name>.generate.json`` beside the folder records the settings; a rerun with other settings is refused unless ``overwrite=true``).
* `generate_clip`: one context video plus a camera JSON (ours or the released HyDRA example format) -> one mp4.

Per clip the initial noise comes from a generator seeded by (seed, clip id), so a clip's video does not depend
on which other clips are generated in the same run or in what order.
"""
from __future__ import annotations

import json
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Optional

import numpy as np
import torch
import torch.nn.functional as F

from hmworld.configs import typed
from hmworld.configs.training import WAN_NEGATIVE_PROMPT, GenerateConfig  # noqa: F401 (the constant: re-exported)
from hmworld.errors import ConfigError, HMWorldError, SplitError
from hmworld.fsutil import atomic_write_json, read_json
from hmworld.progress import NO_COUNT, SILENT, Progress
from hmworld.split.format import one_line
from hmworld.video import probe_video, read_video, write_video_atomic

from .camera import load_released_camera_json, relative_camera_vectors
from .components import (FrameGeometry, as_model_config, build_text_encoder, build_vae, digest,
                         vae_kind)
from .dataset import check_frames, clip_camera, geometry_for, resize_crop, size_multiple
from .sampling import euler_sample, guided, sampling_sigmas
from .trained import autoencoder_from_meta, load_trained_transformer

def state_path(out: Path) -> Path:
    """Generation settings of a submission folder, kept beside it: the leaderboard's validator accepts nothing in
    the folder but submission.yaml and the videos (hidden files included)."""
    return out.parent / f".{out.name}.generate.json"


@dataclass
class Sampler:
    steps: int
    shift: float
    guidance: float
    seed: int
    # The unconditional branch's text: the released HyDRA inference (infer_hydra.py) encodes Wan2.1's default
    # negative prompt; None is the all-padding (zero) caption that caption dropout trains. `negative_prompt=`
    # (default: WAN_NEGATIVE_PROMPT, defined with the generate schema; null: the zero caption; any text: that text).
    negative_prompt: Optional[str] = None


class Generator:
    """A trained transformer with its VAE and text encoder, sampling target latents for one clip at a time."""

    def __init__(self, checkpoint, model_cfg=None, device: str = "cpu"):
        self.checkpoint = Path(checkpoint)
        self.device = device
        self.transformer, self.model_cfg, self.meta = load_trained_transformer(checkpoint, model_cfg, device=device)
        self.dtype = next(self.transformer.parameters()).dtype
        if device.startswith("cuda") and self.dtype == torch.float32:
            self.transformer.to(torch.bfloat16)  # inference in bf16 on GPU, as training's autocast
            self.dtype = torch.bfloat16
        self.autoencoder_identity = None
        if vae_kind(self.model_cfg) == "patch_pca":
            # The autoencoder the training latents were encoded with travels in the checkpoint.
            ae = autoencoder_from_meta(self.meta, str(self.checkpoint))
            if ae is None:
                raise ConfigError(f"checkpoint={self.checkpoint}: model.vae.kind=patch_pca but the checkpoint carries "
                                  "no autoencoder (field hmworld.autoencoder); retrain with this version")
            self.vae = ae.to(device)
            self.autoencoder_identity = ae.identity
        else:
            self.vae = build_vae(self.model_cfg, device=device)
        self._text = None
        self._negative: dict[str, torch.Tensor] = {}     # encoded negative prompts

    def sampler_defaults(self) -> dict:
        return dict(vars(as_model_config(self.model_cfg).sampler))

    def text_encoder(self):
        if self._text is None:
            self._text = build_text_encoder(self.model_cfg, device=self.device)
        return self._text

    @property
    def max_length(self) -> int:
        return int(as_model_config(self.model_cfg).text_encoder.max_length)

    def pad_text(self, emb: torch.Tensor) -> torch.Tensor:
        out = torch.zeros(1, self.max_length, emb.shape[-1])
        n = min(self.max_length, emb.shape[0])
        out[0, :n] = emb[:n].float()
        return out

    def negative_text(self, prompt: Optional[str], like: torch.Tensor) -> torch.Tensor:
        """The unconditional branch's text (encoded once per prompt), or zeros for prompt None."""
        if prompt is None:
            return torch.zeros_like(like)
        if prompt not in self._negative:
            self._negative[prompt] = self.pad_text(self.text_encoder().encode([prompt])[0])
        return self._negative[prompt].to(like.device, like.dtype)

    def encode_context(self, context: torch.Tensor) -> torch.Tensor:
        """``[3, Tc, H, W]`` in [-1, 1] -> normalised latents ``[1, z, Lc, h, w]``."""
        return self.vae.encode(context[None]).to(self.device)

    @torch.no_grad()
    def sample(self, ctx_latents: torch.Tensor, camera: torch.Tensor, text: torch.Tensor, target_latents: int,
               sampler: Sampler, noise_key: str, progress: Callable[[], None] = NO_COUNT.advance,
               retrieval: list | None = None) -> torch.Tensor:
        """Target latents ``[1, z, Lt, h, w]`` for context latents ``[1, z, Lc, h, w]``; camera ``[Lc+Lt, 12]``.

        ``retrieval``: a list that receives, per sampling step, the memory frames each latent frame read in every
        block (the conditional branch's): ``[blocks, Lc+Lt, top_k]`` int (-1: none). Modes without memory log
        nothing."""
        z, nc, h, w = ctx_latents.shape[1], ctx_latents.shape[2], ctx_latents.shape[3], ctx_latents.shape[4]
        g = torch.Generator().manual_seed(int(digest([sampler.seed, noise_key], 15), 16))
        noise = torch.randn(1, z, target_latents, h, w, generator=g).to(self.device)
        cam = camera[None].to(self.device, self.dtype)
        cond = text.to(self.device, self.dtype)
        use_cfg = sampler.guidance != 1.0
        # The unconditional branch: the encoded negative prompt (the release's), or the all-padding (zero) caption.
        texts = torch.cat([cond, self.negative_text(sampler.negative_prompt, cond)]) if use_cfg else cond
        ctx = ctx_latents.to(self.device)

        def velocity(x, t):
            inp = torch.cat([ctx, x], dim=2)
            nb = texts.shape[0]
            res = self.transformer(inp.expand(nb, -1, -1, -1, -1).to(self.dtype), t.expand(nb).to(self.dtype), texts,
                                   camera=cam.expand(nb, -1, -1), num_context_frames=nc,
                                   return_retrieval_indices=retrieval is not None)
            if retrieval is not None and res.retrieval_indices:
                retrieval.append(torch.stack([idx[0] for idx in res.retrieval_indices]).to("cpu", torch.int16))
            out = res.sample[:, :, nc:].float()
            return guided(out[:1], out[1:] if use_cfg else None, sampler.guidance)

        return euler_sample(velocity, noise, steps=sampler.steps, shift=sampler.shift, progress=progress)

    def decode(self, latents: torch.Tensor, height: int, width: int) -> np.ndarray:
        """Target latents -> uint8 ``[Tt, height, width, 3]`` (resized back when the model ran at another size)."""
        video = self.vae.decode(latents)[0]  # [3, T, H, W]
        frames = video.permute(1, 0, 2, 3)  # [T, 3, H, W]
        if frames.shape[-2:] != (height, width):
            frames = F.interpolate(frames, size=(height, width), mode="bilinear", align_corners=False, antialias=True)
        return ((frames.clamp(-1, 1) + 1) * 127.5).round().to(torch.uint8).permute(0, 2, 3, 1).cpu().numpy()


def retrieval_dir(out: Path) -> Path:
    """Where ``save_retrieval=true`` keeps the per-clip retrieval logs: beside the submission folder (the validator
    accepts nothing in it but submission.yaml and the videos)."""
    out = Path(out)
    return out.parent / f"{out.name}.retrieval"


RETRIEVAL_FORMAT = 1


def retrieval_record(steps: list, gen: "Generator", geom: FrameGeometry, sampler: Sampler, clip_id: str,
                     split_root: str | None) -> dict:
    """The arrays and metadata of one clip's retrieval log (`save_retrieval`)."""
    tcfg = as_model_config(gen.model_cfg).transformer.config  # HyDRATransformer3DModel's arguments (its defaults)
    kernel = list(tcfg.get("memory_kernel") or (2, 2, 2))
    meta = {"format": RETRIEVAL_FORMAT, "clip_id": clip_id, "split": split_root,
            "retrieval_mode": tcfg.get("retrieval_mode", "dynamic"), "top_k": tcfg.get("top_k"),
            "window_size": tcfg.get("window_size"), "memory_kernel": kernel,
            "context_latents": geom.context_latents, "target_latents": geom.target_latents,
            "context_frames": geom.context_frames, "target_frames": geom.target_frames,
            "steps": sampler.steps, "shift": sampler.shift, "guidance": sampler.guidance, "seed": sampler.seed,
            "checkpoint": str(gen.checkpoint), "checkpoint_step": gen.meta.get("global_step"),
            "sigmas": [float(x) for x in sampling_sigmas(sampler.steps, sampler.shift)[:-1]]}
    return {"indices": torch.stack(steps).numpy(), "meta": meta}  # [steps, blocks, Lc+Lt, top_k]


def write_retrieval(path: Path, record: dict) -> None:
    import io

    from hmworld.fsutil import atomic_write_bytes

    buf = io.BytesIO()
    np.savez_compressed(buf, indices=record["indices"], meta=np.array(json.dumps(record["meta"])))
    path.parent.mkdir(parents=True, exist_ok=True)
    atomic_write_bytes(path, buf.getvalue())


def read_retrieval(path: str | Path) -> dict:
    path = Path(path)
    if not path.is_file():
        raise ConfigError(f"{path}: retrieval log not found")
    try:
        with np.load(path, allow_pickle=False) as z:
            rec = {"indices": z["indices"], "meta": json.loads(str(z["meta"]))}
    except Exception as exc:  # truncated, not an npz of ours
        raise ConfigError(f"{path}: not a retrieval log written by `hmworld generate save_retrieval=true` "
                          f"({type(exc).__name__}: {exc})") from exc
    if rec["meta"].get("format") != RETRIEVAL_FORMAT or rec["indices"].ndim != 4:
        raise ConfigError(f"{path}: retrieval log of another format (expected format {RETRIEVAL_FORMAT}, indices "
                          "[steps, blocks, frames, top_k])")
    return rec


def resolve_sampler(cfg, gen: Generator) -> Sampler:
    """`cfg`: the generate config (GenerateConfig); null steps/shift/guidance take the model's sampler.*."""
    cfg, d = typed(GenerateConfig, cfg), gen.sampler_defaults()
    pick = lambda k: d[k] if cfg[k] is None else cfg[k]  # noqa: E731
    s = Sampler(int(pick("steps")), float(pick("shift")), float(pick("guidance")), int(cfg.seed), cfg.negative_prompt)
    if s.steps < 1:
        raise ConfigError(f"steps={s.steps}: at least 1 sampling step")
    return s


@dataclass
class GenerateReport:
    out: Path
    written: list = field(default_factory=list)
    skipped: list = field(default_factory=list)
    seconds: float = 0.0
    sampler: Sampler | None = None
    submission: Path | None = None
    retrieval: Path | None = None  # save_retrieval: the folder of per-clip retrieval logs


def generate_split(cfg, gen: Generator, *, progress: Progress = SILENT) -> GenerateReport:
    cfg = typed(GenerateConfig, cfg)
    from hmworld.benchmark.submission import SubmissionInfo, video_name, write_submission_info
    from hmworld.split import Split

    from .cache import LatentCache

    split = Split(cfg.split)
    if not split.fingerprint:
        raise SplitError(f"split={split.root}: no fingerprint in split.json (status {split.info.get('status')!r}); "
                         "finish the split before generating a submission for it")
    geom = geometry_for(split, gen.model_cfg)
    fps_values = sorted({float(f) for f in split.manifest["fps"]})
    if len(fps_values) != 1:
        raise SplitError(f"split={split.root}: clips have different fps {fps_values}; a submission has one fps")
    out = Path(cfg.out)
    out.mkdir(parents=True, exist_ok=True)
    sampler = resolve_sampler(cfg, gen)
    ck = gen.checkpoint.stat()
    state = {"split_fingerprint": split.fingerprint, "checkpoint": str(gen.checkpoint.resolve()),
             "checkpoint_size": ck.st_size, "checkpoint_step": gen.meta.get("global_step"),
             "sampler": sampler.__dict__, "geometry": geom.__dict__}
    spath = state_path(out)
    # The record only guards videos already there: a deleted (or emptied) folder starts afresh.
    if spath.is_file() and not cfg.overwrite and any(out.glob("*.mp4")):
        old = read_json(spath)
        if old != state:
            diffs = [k for k in state if old.get(k) != state[k]]
            raise ConfigError(f"out={out} holds videos generated with other settings ({', '.join(diffs)} differ, "
                              f"see {spath}); choose a new folder or pass overwrite=true")
    atomic_write_json(spath, state)
    cache = None
    try:
        cache = LatentCache(split, gen.model_cfg, cfg.cache_dir, autoencoder_identity=gen.autoencoder_identity)
    except HMWorldError:
        cache = None
    clips = list(split)
    if cfg.limit is not None:
        clips = clips[: int(cfg.limit)]
    report = GenerateReport(out, sampler=sampler)
    from .components import transformer_uses_memory

    save_retrieval = bool(cfg.save_retrieval) and transformer_uses_memory(gen.model_cfg)[0]
    rdir = retrieval_dir(out)
    report.retrieval = rdir if save_retrieval else None
    done = progress.start("clips", len(clips))
    steps = progress.start("sampling steps", len(clips) * sampler.steps)
    t0 = time.perf_counter()
    try:
        for clip in clips:
            dest = out / video_name(clip.clip_id)
            rpath = rdir / f"{clip.clip_id}.npz"
            # A clip is done when its video is there (and its retrieval log, when asked for: a rerun with
            # save_retrieval=true regenerates the same video, the noise being a function of (seed, clip id)).
            if dest.is_file() and not cfg.overwrite and (not save_retrieval or rpath.is_file()):
                report.skipped.append(clip.clip_id)
                done.advance()
                continue
            ctx_lat, text = None, None
            if cache is not None and cache.latent_path(clip).is_file():
                entry = cache.load_latents(clip)
                ctx_lat = entry[:, : geom.context_latents][None]
            if ctx_lat is None:
                frames = clip.frames(0, geom.context_frames)
                ctx_lat = gen.encode_context(resize_crop(frames, geom.height, geom.width))
            if cache is not None and cache.text_path(clip).is_file():
                text = gen.pad_text(cache.load_text(clip))
            else:
                text = gen.pad_text(gen.text_encoder().encode([clip.caption])[0])
            camera = clip_camera(clip, geom)
            log = [] if save_retrieval else None
            lat = gen.sample(ctx_lat, camera, text, geom.target_latents, sampler, clip.clip_id,
                             progress=steps.advance, retrieval=log)
            video = gen.decode(lat, int(clip.row["height"]), int(clip.row["width"]))
            if save_retrieval:
                write_retrieval(rpath, retrieval_record(log, gen, geom, sampler, clip.clip_id,
                                                        str(split.root.resolve())))
            if len(video) != clip.target_frames:
                raise HMWorldError(f"clip {clip.clip_id}: decoded {len(video)} frames, the split has "
                                   f"{clip.target_frames} target frames")
            write_video_atomic(dest, video, float(clip.row["fps"]))
            report.written.append(clip.clip_id)
            done.advance()
    finally:
        done.close()
        steps.close()
    report.seconds = time.perf_counter() - t0
    if len(clips) == len(split):
        params = sum(p.numel() for p in gen.transformer.parameters())
        info = SubmissionInfo(
            model=str(cfg.model_name or as_model_config(gen.model_cfg).name), split_fingerprint=split.fingerprint,
            fps=fps_values[0], includes_context=False,
            description=str(cfg.description or f"HyDRA ({_retrieval_mode(gen.model_cfg)}) "
                                                     f"checkpoint {gen.checkpoint.name} step {gen.meta.get('global_step')}, "
                                                     f"{sampler.steps} Euler steps, shift {sampler.shift}, guidance {sampler.guidance}"),
            url=str(cfg.url or ""), params=int(params))
        report.submission = write_submission_info(out, info)
    return report


# ------------------------------------------------------------------------------------------------ single clip
def load_camera_json(path: str | Path, context_frames: int) -> tuple[np.ndarray, np.ndarray]:
    """(context, target) OpenCV camera-to-world poses (metres) from our camera.json or the released example JSON.

    Ours: ``{"convention": "opencv_c2w_metres", "c2w": [[16 numbers], ...]}`` covering context then target frames
    (the first ``context_frames`` poses are the context's). Released: ``{"cond_cam": {...}, "tgt_cam": {...}}``.
    """
    path = Path(path)
    if not path.is_file():
        raise ConfigError(f"camera={path}: file not found")
    try:
        data = json.loads(path.read_text())
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise ConfigError(f"camera={path}: not JSON ({exc})") from exc
    if isinstance(data, dict) and "cond_cam" in data:
        try:
            ctx, tgt = load_released_camera_json(path)
        except (ValueError, TypeError, KeyError) as exc:
            raise ConfigError(f"camera={path}: {exc} (every frame needs a 4x4 matrix)") from exc
        if len(ctx) != context_frames:
            raise ConfigError(f"camera={path}: field cond_cam has {len(ctx)} poses, the context video has "
                              f"{context_frames} frames")
        return ctx, tgt
    if not isinstance(data, dict) or "c2w" not in data:
        raise ConfigError(f"camera={path}: expected field c2w (our camera.json) or cond_cam/tgt_cam (released HyDRA)")
    conv = data.get("convention", "opencv_c2w_metres")
    if conv != "opencv_c2w_metres":
        raise ConfigError(f"camera={path}: field convention is {conv!r}, expected 'opencv_c2w_metres'")
    try:
        c2w = np.asarray(data["c2w"], float)
    except (ValueError, TypeError) as exc:
        raise ConfigError(f"camera={path}: field c2w is not a list of numbers ({exc})") from exc
    if c2w.ndim == 2 and c2w.shape[1] == 16:
        c2w = c2w.reshape(-1, 4, 4)
    if c2w.ndim != 3 or c2w.shape[1:] != (4, 4):
        raise ConfigError(f"camera={path}: field c2w must hold one 4x4 matrix (16 numbers) per frame, got shape "
                          f"{list(c2w.shape)}")
    if len(c2w) <= context_frames:
        raise ConfigError(f"camera={path}: field c2w has {len(c2w)} poses, not more than the context video's "
                          f"{context_frames} frames (context poses first, then the target's)")
    return c2w[:context_frames], c2w[context_frames:]


def generate_clip(cfg, gen: Generator, *, progress: Progress = SILENT) -> GenerateReport:
    cfg = typed(GenerateConfig, cfg)
    video_path = Path(cfg.video)
    if not video_path.is_file():
        raise ConfigError(f"video={video_path}: file not found")
    info = probe_video(video_path)
    frames = read_video(video_path)
    ctx_c2w, tgt_c2w = load_camera_json(cfg.camera, len(frames))
    where = f"video={video_path} / camera={cfg.camera}"
    check_frames(where, "context_frames", len(ctx_c2w), *_memory(gen.model_cfg))
    check_frames(where, "target_frames", len(tgt_c2w), *_memory(gen.model_cfg))
    data = as_model_config(gen.model_cfg).data
    h, w = int(data.height or info.height), int(data.width or info.width)
    mult = size_multiple(gen.model_cfg)
    if h % mult or w % mult:
        raise ConfigError(f"{where}: frame size {w}x{h} is not a multiple of {mult}; set model.data.width/height "
                          "in the training config (the checkpoint's) or resize the video")
    geom = FrameGeometry(len(ctx_c2w), len(tgt_c2w), h, w)
    ctx, tgt = relative_camera_vectors(ctx_c2w, tgt_c2w)
    camera = torch.from_numpy(np.concatenate([ctx, tgt]))
    caption = one_line(cfg.caption or "")
    text = gen.pad_text(gen.text_encoder().encode([caption])[0])
    sampler = resolve_sampler(cfg, gen)
    out = Path(cfg.out)
    out.mkdir(parents=True, exist_ok=True)
    name = cfg.name or video_path.stem
    report = GenerateReport(out, sampler=sampler)
    done, steps = progress.start("clips", 1), progress.start("sampling steps", sampler.steps)
    t0 = time.perf_counter()
    try:
        ctx_lat = gen.encode_context(resize_crop(frames, geom.height, geom.width))
        lat = gen.sample(ctx_lat, camera, text, geom.target_latents, sampler, str(name), progress=steps.advance)
        video = gen.decode(lat, info.height, info.width)
        fps = float(cfg.fps or info.fps or 15)
        write_video_atomic(out / f"{name}.mp4", video, fps)
        report.written.append(str(name))
        done.advance()
    finally:
        done.close()
        steps.close()
    report.seconds = time.perf_counter() - t0
    return report


def _retrieval_mode(model_cfg) -> str:
    return as_model_config(model_cfg).transformer.config.get("retrieval_mode", "dynamic")


def _memory(model_cfg):
    from .components import transformer_uses_memory

    return transformer_uses_memory(model_cfg)
