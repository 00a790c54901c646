"""`hmworld study`: the memory study as one resumable job (issue 13 item 4).

    run_study(cfg)   # cfg: render_configs/study.yaml composed with a preset (render_configs/study_preset/)

Stages, each a call of the stage's own library function (in this process), each unit skipped when it is
recorded done in ``study.json`` and its outputs are on disk, otherwise handed to the function, which resumes by its
own rules (clips, cache entries, checkpoints, videos and scored clips are never redone):

    render     run_render            splits/train, splits/test (partition=test)
    cache      LatentCache.build     splits/*/cache (the test split encoded with the training split's autoencoder)
    train      run_training          runs/<mode>-s<seed>/   (one per mode x seed, the same budget)
    generate   generate_split        subs/<mode>-s<seed>/ (+ .retrieval/ logs beside it)
    floors     predict_baseline      subs/floor-repeat-last, subs/floor-mean-context, subs/floor-nearest-view
               write_ceiling         subs/floor-ceiling (the test ground truth through the autoencoder)
    score      score_submission      results.sqlite (every submission, one store)
    views      write_views           views/<mode>-s<seed>/ (retrieval heat maps, memory-reading modes)
    board      build_leaderboard     leaderboard/
    report     write_report          report/report.md, report/report.html (self-contained), report/*.png

``study.json`` (written whole after every change) records the resolved config, the study's identity (the config
without run-only keys), and per unit its status (running | done), start, end and seconds, and what it produced.
A folder holding another study (any identity key differs) is refused, naming the keys; `modes` and `seeds` may
change between runs (units are per mode and seed).
"""
from __future__ import annotations

import base64
import html
import io
import json
import math
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Optional

import numpy as np
from omegaconf import DictConfig, OmegaConf

from hmworld.benchmark.baselines import PREDICTORS
from hmworld.configs import open_free_dicts, typed
from hmworld.configs.benchmark import LeaderboardConfig, ScoreConfig
from hmworld.configs.model import as_model_config
from hmworld.configs.training import CacheConfig, GenerateConfig
from hmworld.devices import select_device
from hmworld.errors import ConfigError
from hmworld.fsutil import atomic_write_bytes, atomic_write_text
from hmworld.progress import SILENT, Progress

STUDY_FORMAT = 1
MODES = ("dynamic", "fov", "full", "local")
MEMORY_MODES = ("dynamic", "fov")          # modes that read memory frames (and log retrievals)
# the reference predictors (benchmark/baselines.py's registry) and the autoencoder's ceiling (write_ceiling below)
FLOORS = (*PREDICTORS, "ceiling")
RUN_ONLY_KEYS = ("out", "progress", "modes", "seeds", "floors", "report", "cache.device", "generate.device",
                 "score.workers", "score.threads", "score.device")
STUDY_JSON = "study.json"


# ------------------------------------------------------------------------------------------------ configs
def compose_config(name: str, overrides: list[str]) -> DictConfig:
    """A command's config exactly as its CLI builds it (inside a running Hydra app or outside one)."""
    from hydra import compose, initialize_config_module
    from hydra.core.global_hydra import GlobalHydra

    if GlobalHydra.instance().is_initialized():
        return compose(config_name=name, overrides=overrides)
    with initialize_config_module(config_module="hmworld.render_configs", version_base="1.3"):
        return compose(config_name=name, overrides=overrides)


def stage_config(name: str, overrides: list[str], section, model=None, extra: dict | None = None) -> DictConfig:
    """``name``'s config with the study's section merged over it (and the study's model config in place)."""
    cfg = compose_config(name, overrides)  # typed by the command's schema: a key not there is an error
    open_free_dicts(cfg)
    if model is not None:
        cfg.model = as_model_config(model)  # replaced whole (resolved), not merged over the command's default
    merged = OmegaConf.merge(cfg, OmegaConf.create(OmegaConf.to_container(section, resolve=True) if section else {}),
                             OmegaConf.create(extra or {}))
    return merged


def _flatten(d, prefix: str = "") -> dict:
    out = {}
    if isinstance(d, dict):
        for k, v in d.items():
            out.update(_flatten(v, f"{prefix}{k}."))
    else:
        out[prefix[:-1]] = d
    return out


def identity(cfg: DictConfig) -> dict:
    """The settings that decide the study's data and results (run-only keys dropped)."""
    plain = OmegaConf.to_container(cfg, resolve=True)
    flat = _flatten(plain)
    return {k: v for k, v in flat.items() if not any(k == r or k.startswith(r + ".") for r in RUN_ONLY_KEYS)}


def check_config(cfg: DictConfig) -> None:
    """Bad input before anything is done (ConfigError: the CLI prints one line, exit status 2)."""
    if OmegaConf.is_missing(cfg, "out") or not str(cfg.out).strip():
        raise ConfigError("out=DIR is required: the study folder")
    out = Path(str(cfg.out))
    if out.exists() and not out.is_dir():
        raise ConfigError(f"out={out}: exists and is not a folder")
    modes = list(cfg.modes)
    bad = [m for m in modes if m not in MODES]
    if bad or not modes:
        raise ConfigError(f"modes={modes}: unknown retrieval mode(s) {bad}; choose from {list(MODES)}")
    if len(set(modes)) != len(modes):
        raise ConfigError(f"modes={modes}: a mode is listed twice")
    seeds = list(cfg.seeds)
    if not seeds or any(isinstance(s, bool) or not isinstance(s, int) or s < 0 for s in seeds):
        raise ConfigError(f"seeds={seeds}: a non-empty list of whole numbers >= 0")
    if len(set(seeds)) != len(seeds):
        raise ConfigError(f"seeds={seeds}: a seed is listed twice")
    bad = [f for f in cfg.floors if f not in FLOORS]
    if bad:
        raise ConfigError(f"floors={list(cfg.floors)}: unknown floor(s) {bad}; choose from {list(FLOORS)}")
    for name in ("train", "test"):
        n = cfg.splits[name].num_clips
        if isinstance(n, bool) or not isinstance(n, int) or n < 1:
            raise ConfigError(f"splits.{name}.num_clips={n}: at least 1 clip")
    devices = OmegaConf.select(cfg, "train.trainer.devices", default=1)
    if devices not in (1, "1", None):
        raise ConfigError(f"train.trainer.devices={devices}: the study trains in its own process on one device; "
                          "for several GPUs run the training stage with `hmworld train ... trainer.devices=N` "
                          "(model/TRAINING.md) into the study's runs/ folders, then rerun the study")


# ------------------------------------------------------------------------------------------------ record
@dataclass
class StudyRecord:
    """study.json: what was done, when, and with which settings."""

    path: Path
    data: dict = field(default_factory=dict)

    @classmethod
    def open(cls, out: Path, cfg: DictConfig) -> "StudyRecord":
        path = out / STUDY_JSON
        ident = identity(cfg)
        if path.is_file():
            try:
                data = json.loads(path.read_text())
            except (OSError, ValueError) as exc:
                raise ConfigError(f"{path}: unreadable ({exc}); not a study folder of this version") from exc
            old = data.get("identity") or {}
            diff = sorted(k for k in set(old) | set(ident) if old.get(k) != ident.get(k))
            if diff:
                shown = "; ".join(f"{k}: {old.get(k, '-')!r} there, {ident.get(k, '-')!r} now" for k in diff[:6])
                raise ConfigError(f"out={out} holds another study ({len(diff)} setting(s) differ: {shown}"
                                  f"{' ...' if len(diff) > 6 else ''}); choose a new out folder")
        elif out.is_dir() and any(out.iterdir()):
            raise ConfigError(f"out={out}: not empty and holds no {STUDY_JSON}; choose a new or empty folder")
        else:
            data = {"format": STUDY_FORMAT, "identity": ident, "units": {}, "runs": []}
        data["config"] = OmegaConf.to_container(cfg, resolve=True)
        data.setdefault("runs", []).append({"started": _now(), "finished": None, "modes": list(cfg.modes),
                                            "seeds": list(cfg.seeds)})
        rec = cls(path, data)
        rec.save()
        return rec

    def save(self) -> None:
        atomic_write_text(self.path, json.dumps(self.data, indent=1, default=str) + "\n")

    def unit(self, name: str) -> dict:
        return self.data["units"].get(name, {})

    def done(self, name: str, key=None) -> bool:
        u = self.unit(name)
        return u.get("status") == "done" and (key is None or u.get("key") == key)

    def start(self, name: str, stage: str) -> None:
        self.data["units"][name] = {"stage": stage, "status": "running", "started": _now(),
                                    "attempts": self.unit(name).get("attempts", 0) + 1}
        self.save()

    def finish(self, name: str, seconds: float, key=None, **info) -> None:
        u = self.data["units"][name]
        u.update(status="done", finished=_now(), seconds=round(seconds, 3), key=key, **info)
        self.save()

    def skipped(self, name: str) -> None:
        u = self.data["units"][name]
        u["skipped_runs"] = u.get("skipped_runs", 0) + 1
        self.save()

    def close(self) -> None:
        self.data["runs"][-1]["finished"] = _now()
        self.save()


def _now() -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())


# ------------------------------------------------------------------------------------------------ ceiling floor
def write_ceiling(split_root: Path, train_root: Path, model_cfg, out: Path, device: str = "cpu",
                  progress: Progress = SILENT) -> dict:
    """The autoencoder ceiling as a submission: every test clip's target half encoded and decoded by the training
    split's autoencoder (patch_pca) or the model's VAE, at the split's size. Resumable per video."""
    import torch

    from hmworld.benchmark.submission import SubmissionInfo, write_clip_videos, write_submission_info
    from hmworld.model.cache import LatentCache
    from hmworld.model.components import build_vae, to_plain, vae_kind
    from hmworld.model.dataset import geometry_for, resize_crop
    from hmworld.model.patch_autoencoder import to_uint8
    from hmworld.split import Split

    split = Split(split_root)
    plain = to_plain(model_cfg)
    if vae_kind(plain) == "patch_pca":
        ae, _ = LatentCache(Split(train_root), plain).autoencoder()
        vae, what = ae.to(device), f"patch PCA autoencoder {ae.identity[:12]} fitted on the training split"
    else:
        vae, what = build_vae(plain, device=device), f"the model's VAE ({plain['vae'].get('kind')})"
    geom = geometry_for(split, plain)
    out.mkdir(parents=True, exist_ok=True)
    fps = float(split.manifest["fps"].iloc[0])

    def reconstruct(clip):
        frames = clip.frames(geom.context_frames, geom.context_frames + geom.target_frames)
        x = resize_crop(frames, geom.height, geom.width)[None]
        with torch.no_grad():
            rec = vae.decode(vae.encode(x))[0]
        video = rec.permute(1, 0, 2, 3)
        h, w = int(clip.row["height"]), int(clip.row["width"])
        if video.shape[-2:] != (h, w):
            video = torch.nn.functional.interpolate(video, size=(h, w), mode="bilinear", align_corners=False,
                                                    antialias=True)
        return to_uint8(video.permute(1, 0, 2, 3))

    clips = list(split)
    with progress.start("ceiling", len(clips)) as videos:
        written, already = write_clip_videos(clips, out, reconstruct, fps, videos.advance)
    write_submission_info(out, SubmissionInfo(
        model="ceiling (autoencoder)", split_fingerprint=split.fingerprint, fps=int(fps) if fps.is_integer() else fps,
        includes_context=False, description=f"Reference ceiling: the ground truth's target half through {what}.",
        url="", params=0))
    return {"written": written, "already": already}


# ------------------------------------------------------------------------------------------------ the study
@dataclass
class StudyReport:
    out: Path
    ran: list = field(default_factory=list)          # (unit, seconds)
    skipped: list = field(default_factory=list)      # units already done
    report_md: Optional[Path] = None
    report_html: Optional[Path] = None
    seconds: float = 0.0


def unit_name(mode: str, seed: int) -> str:
    return f"{mode}-s{seed}"


def run_study(cfg: DictConfig, *, say: Callable[[str], None] = print, progress: Progress = SILENT) -> StudyReport:
    """Run (or resume) the study of ``cfg`` into ``cfg.out``; returns what this run did. ``progress`` gets every
    stage's counters (hmworld.progress; `hmworld study` passes its rich bars)."""
    check_config(cfg)
    t_all = time.perf_counter()
    out = Path(str(cfg.out))
    out.mkdir(parents=True, exist_ok=True)
    rec = StudyRecord.open(out, cfg)
    rep = StudyReport(out)
    model = cfg.model
    modes, seeds = list(cfg.modes), list(cfg.seeds)
    splits = {"train": out / "splits" / "train", "test": out / "splits" / "test"}
    results = out / "results.sqlite"

    def step(name: str, stage: str, fn: Callable[[], dict], outputs_exist: Callable[[], bool] = lambda: True,
             key=None) -> bool:
        """Run one unit unless it is recorded done (with ``key``) and its outputs exist. True when it ran."""
        if rec.done(name, key) and outputs_exist():
            rec.skipped(name)
            rep.skipped.append(name)
            say(f"[{stage}] {name}: done already (study.json), skipped")
            return False
        say(f"[{stage}] {name} ...")
        rec.start(name, stage)
        t0 = time.perf_counter()
        info = fn() or {}
        dt = time.perf_counter() - t0
        rec.finish(name, dt, key=key, **info)
        rep.ran.append((name, dt))
        say(f"[{stage}] {name}: {dt:.1f} s")
        return True

    # -------------------------------------------------------------------------------------- render
    from hmworld.render_job import run_render

    def render(which: str):
        s = cfg.splits[which]
        rcfg = stage_config("render", [f"out={splits[which]}", f"partition={which}"], cfg.render,
                            extra={"num_clips": int(s.num_clips), "seed": int(s.seed), "progress": bool(cfg.progress)})
        r = run_render(rcfg, progress=progress)
        if r.failed_clips or r.split_info.get("status") != "complete":
            raise ConfigError(f"split {splits[which]}: not complete ({len(r.failed_clips)} clip(s) failed to "
                              "render); rerun the study to retry them")
        return {"clips_written": r.written, "clips_already": r.already_done, "fps": round(r.fps, 2),
                "fingerprint": r.split_info.get("fingerprint")}

    for which in ("train", "test"):
        step(f"render-{which}", "render", lambda w=which: render(w),
             lambda w=which: (splits[w] / "split.json").is_file())

    # -------------------------------------------------------------------------------------- cache
    from hmworld.model.cache import LatentCache
    from hmworld.model.components import vae_kind

    cache_cfg = typed(CacheConfig, cfg.cache)  # the `cache` section: keys of `hmworld cache`
    device = select_device(cache_cfg.device)

    def latent_cache(which: str) -> LatentCache:
        """The split's cache; the test split is encoded with the autoencoder fitted on the training split."""
        mcfg = OmegaConf.to_container(model, resolve=True)
        if which == "test" and vae_kind(mcfg) == "patch_pca":
            mcfg["vae"]["file"] = str(LatentCache(splits["train"], mcfg).autoencoder_path)
        return LatentCache(splits[which], mcfg)

    def cache(which: str):
        r = latent_cache(which).build(device=device, text_batch=int(cache_cfg.text_batch), progress=progress)
        info = {"latents_encoded": r.latents_encoded, "latents_skipped": r.latents_skipped,
                "text_encoded": r.text_encoded}
        if r.autoencoder is not None:
            info["autoencoder"] = str(r.autoencoder)
            info["ceiling_psnr_db"] = (r.autoencoder_meta or {}).get("psnr_db")
            info["ceiling_on"] = (r.autoencoder_meta or {}).get("psnr_on")
        return info

    for which in ("train", "test"):
        step(f"cache-{which}", "cache", lambda w=which: cache(w), lambda w=which: not latent_cache(w).missing())

    # -------------------------------------------------------------------------------------- train
    from hmworld.model.trained import last_checkpoint, read_checkpoint_meta, read_metrics

    max_steps = int(OmegaConf.select(cfg, "train.trainer.max_steps", default=None)
                    or compose_config("train", ["split=x", "out=y"]).trainer.max_steps)

    def train_cfg(mode: str, seed: int) -> DictConfig:
        m = OmegaConf.create(OmegaConf.to_container(model, resolve=True))
        m.transformer.config.retrieval_mode = mode
        return stage_config("train", [f"split={splits['train']}", f"out={out / 'runs' / unit_name(mode, seed)}"],
                            cfg.train, model=m, extra={"seed": int(seed), "progress": bool(cfg.progress)})

    def trained(mode: str, seed: int) -> bool:
        last = last_checkpoint(out / "runs" / unit_name(mode, seed))
        return last is not None and last.is_file() and read_checkpoint_meta(last)["global_step"] >= max_steps

    def train(mode: str, seed: int):
        if trained(mode, seed):   # finished by an earlier run that was killed before recording it
            return {"global_step": max_steps, "note": "checkpoint already at max_steps"}
        tcfg = train_cfg(mode, seed)
        run = Path(str(tcfg.out))
        run.mkdir(parents=True, exist_ok=True)
        atomic_write_text(run / "config.yaml", OmegaConf.to_yaml(tcfg, resolve=True))   # as `hmworld train` does
        from hmworld.model.training import run_training  # Lightning: only when a run trains

        r = run_training(tcfg, progress=bool(cfg.progress))
        rows = read_metrics(r["metrics"])
        losses = [float(x["train_mse"]) for x in rows if x.get("train_mse")]
        k = min(20, len(losses))
        return {"global_step": r["global_step"], "checkpoint": str(r["checkpoint"]),
                "resumed_from": str(r["resumed_from"]) if r["resumed_from"] else None,
                "train_mse_first": sum(losses[:k]) / k if k else None,
                "train_mse_last": sum(losses[-k:]) / k if k else None,
                "params": r["params"]}

    for mode in modes:
        for seed in seeds:
            step(f"train-{unit_name(mode, seed)}", "train", lambda m=mode, s=seed: train(m, s),
                 lambda m=mode, s=seed: trained(m, s))

    # -------------------------------------------------------------------------------------- generate
    from hmworld.model.generate import Generator, generate_split, retrieval_dir

    def sub_dir(name: str) -> Path:
        return out / "subs" / name

    def generate(mode: str, seed: int):
        name = unit_name(mode, seed)
        ckpt = last_checkpoint(out / "runs" / name)
        gcfg = stage_config("generate", [f"checkpoint={ckpt}", f"split={splits['test']}", f"out={sub_dir(name)}",
                                         "save_retrieval=true"], cfg.generate,
                            extra={"model_name": f"{as_model_config(model).name} {mode} seed {seed}",
                                   "progress": bool(cfg.progress)})
        gdev = select_device(gcfg.device)
        r = generate_split(gcfg, Generator(ckpt, None, device=gdev), progress=progress)
        return {"written": len(r.written), "already": len(r.skipped),
                "seconds_per_clip": r.seconds / len(r.written) if r.written else None,
                "retrieval": str(r.retrieval) if r.retrieval else None}

    for mode in modes:
        for seed in seeds:
            name = unit_name(mode, seed)
            step(f"generate-{name}", "generate", lambda m=mode, s=seed: generate(m, s),
                 lambda n=name: (sub_dir(n) / "submission.yaml").is_file())

    # -------------------------------------------------------------------------------------- floors
    from hmworld.benchmark.baselines import predict_baseline

    def floor(name: str):
        if name == "ceiling":
            gdev = select_device(typed(GenerateConfig, cfg.generate).device)
            return write_ceiling(splits["test"], splits["train"], model, sub_dir(f"floor-{name}"), device=gdev,
                                 progress=progress)
        r = predict_baseline(name, splits["test"], sub_dir(f"floor-{name}"), progress=progress)
        return {"written": r.written, "already": r.already}

    for f in cfg.floors:
        step(f"floor-{f}", "floors", lambda f=f: floor(f),
             lambda f=f: (sub_dir(f"floor-{f}") / "submission.yaml").is_file())

    # -------------------------------------------------------------------------------------- score
    from hmworld.benchmark.scoring import score_submission

    entries = [(unit_name(m, s), m, s) for m in modes for s in seeds] + [(f"floor-{f}", f"floor:{f}", None)
                                                                         for f in cfg.floors]
    sc = cfg.score

    def score(name: str):
        # the `score` section holds keys of `hmworld score` (ScoreConfig): a key not there is an error
        settings = {**OmegaConf.to_container(sc, resolve=True), "submission": str(sub_dir(name)),
                    "split": str(splits["test"]), "results": str(results)}
        r = score_submission(typed(ScoreConfig, settings), progress=progress)
        return {"submission_id": r.submission_id, "convention_version": r.convention_version,
                "split_fingerprint": r.split_fingerprint, "scored": r.scored, "already": r.already,
                "metrics": {m: s for m, (s, _) in r.metric_status.items()},
                "aggregate": {k: v for k, v in r.aggregate.items() if v is not None}}

    for name, _, _ in entries:
        step(f"score-{name}", "score", lambda n=name: score(n), lambda: results.is_file())

    # -------------------------------------------------------------------------------------- retrieval views
    from hmworld.model.retrieval_view import write_views
    from hmworld.split import Split

    def views(mode: str, seed: int):
        name = unit_name(mode, seed)
        logs = sorted(retrieval_dir(sub_dir(name)).glob("*.npz"))
        if not logs:
            return {"pngs": 0, "note": "no retrieval logs"}
        written = write_views(logs, out / "views" / name, Split(splits["test"]), title=f"retrieval: {name}")
        return {"pngs": len(written) - 1}

    for mode in modes:
        if mode not in MEMORY_MODES:
            continue
        for seed in seeds:
            name = unit_name(mode, seed)
            step(f"views-{name}", "views", lambda m=mode, s=seed: views(m, s),
                 lambda n=name: (out / "views" / n / "index.html").is_file())

    # -------------------------------------------------------------------------------------- leaderboard, report
    scored_key = sorted(rec.unit(f"score-{n}").get("submission_id", "") for n, _, _ in entries)
    from hmworld.benchmark.leaderboard import build_leaderboard

    def board():
        rank_by = typed(LeaderboardConfig, cfg.leaderboard).rank_by  # the section holds keys of `hmworld leaderboard`
        r = build_leaderboard(results, out / "leaderboard", rank_by=str(rank_by),
                              title=f"HM-World memory study ({cfg.preset})")
        return {"page": str(r.page), "thumbnails": r.thumbnails}

    step("leaderboard", "leaderboard", board, lambda: (out / "leaderboard" / "index.html").is_file(), key=scored_key)

    def report():
        md, page = write_report(out, cfg, rec, entries, splits, results)
        return {"markdown": str(md), "html": str(page)}

    step("report", "report", report,
         lambda: (out / "report" / "report.md").is_file() and (out / "report" / "report.html").is_file(),
         key=[scored_key, OmegaConf.to_container(cfg.report, resolve=True), modes, seeds])
    rec.close()
    rep.report_md, rep.report_html = out / "report" / "report.md", out / "report" / "report.html"
    rep.seconds = time.perf_counter() - t_all
    return rep


# ------------------------------------------------------------------------------------------------ report
def _png(fig) -> bytes:
    import matplotlib.pyplot as plt

    buf = io.BytesIO()
    fig.savefig(buf, format="png", bbox_inches="tight", dpi=90)
    plt.close(fig)
    return buf.getvalue()


def _mean_sd(values: list[float]) -> tuple[Optional[float], Optional[float]]:
    vals = [v for v in values if v is not None and math.isfinite(v)]
    if not vals:
        return None, None
    m = float(np.mean(vals))
    return m, (float(np.std(vals, ddof=1)) if len(vals) > 1 else None)


def collect(results: Path, rec: StudyRecord, entries) -> list[dict]:
    """Per scored submission: its row label, mode or floor, seed, values and per-event records from the store."""
    from hmworld.benchmark.leaderboard import summarize_submission
    from hmworld.benchmark.store import ResultsStore

    rows = []
    with ResultsStore(results, create=False) as store:
        subs = {(s["submission_id"], s["split_fingerprint"], s["convention_version"]): s for s in store.submissions()}
        for name, label, seed in entries:
            u = rec.unit(f"score-{name}")
            key = (u.get("submission_id"), u.get("split_fingerprint"), u.get("convention_version"))
            if key not in subs:
                continue
            s = summarize_submission(store, subs[key])
            rows.append({"name": name, "label": label, "seed": seed, "values": s.values,
                         "not_applicable": set(s.not_applicable), "clips": s.clips, "split_clips": s.split_clips,
                         "events": list(getattr(s, "events", []) or [])})
    return rows


def _table(rows: list[dict], modes: list[str], floors: list[str]):
    """(columns, lines): one line per mode (mean and sd over seeds) and per floor."""
    from hmworld.metrics.registry import COLUMN, columns

    cols = [c for c in columns(trailing=False)
            if any(r["values"].get(c) is not None for r in rows)]
    lines = []
    for label in [*modes, *(f"floor:{f}" for f in floors)]:
        mine = [r for r in rows if r["label"] == label]
        if not mine:
            continue
        cells = {}
        for c in cols:
            if all(c in r["not_applicable"] for r in mine):
                cells[c] = (None, None, "n/a")
                continue
            m, sd = _mean_sd([r["values"].get(c) for r in mine])
            d = COLUMN[c].digits
            txt = "" if m is None else f"{m:.{d}f}" + (f" ± {sd:.{d}f}" if sd is not None else "")
            cells[c] = (m, sd, txt)
        lines.append({"label": label.replace("floor:", "floor: "), "n": len(mine), "cells": cells,
                      "clips": f"{min(r['clips'] for r in mine)}/{mine[0]['split_clips']}"})
    return cols, lines


def _gap_plot(rows: list[dict], metric: str, labels: list[str]) -> Optional[bytes]:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    series = {}
    for label in labels:
        pts: dict[int, list[float]] = {}
        for r in rows:
            if r["label"] != label:
                continue
            for e in r["events"]:
                if e.get("metric") == metric and e.get("value") is not None:
                    pts.setdefault(int(e["gap_frames"]), []).append(float(e["value"]))
        if pts:
            series[label] = sorted((g, float(np.mean(v))) for g, v in pts.items())
    if not series:
        return None
    fig, ax = plt.subplots(figsize=(6.4, 3.6))
    for label, pts in series.items():
        ax.plot([p[0] for p in pts], [p[1] for p in pts], "o-" if not label.startswith("floor") else "s--",
                label=label.replace("floor:", "floor: "), alpha=0.85)
    ax.set_xlabel("hidden gap (frames out of view)")
    ax.set_ylabel(metric)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=7)
    return _png(fig)


def _gap_table(rows: list[dict], metric: str, labels: list[str]) -> list[str]:
    """Markdown: the plotted values, one line per hidden-gap length (mean over seeds and events; n events)."""
    cells: dict[int, dict[str, list[float]]] = {}
    for r in rows:
        for e in r["events"]:
            if e.get("metric") == metric and e.get("value") is not None and r["label"] in labels:
                cells.setdefault(int(e["gap_frames"]), {}).setdefault(r["label"], []).append(float(e["value"]))
    if not cells:
        return []
    shown = [lb for lb in labels if any(lb in c for c in cells.values())]
    out = ["| hidden gap (frames) | " + " | ".join(lb.replace("floor:", "floor: ") for lb in shown) + " |",
           "|---|" + "---|" * len(shown)]
    for gap in sorted(cells):
        out.append(f"| {gap} | " + " | ".join(
            f"{np.mean(cells[gap][lb]):.2f} (n={len(cells[gap][lb])})" if lb in cells[gap] else "" for lb in shown)
            + " |")
    return out


def _sample_frames(split_root: Path, subs: dict[str, Path], clip_ids: list[str]) -> list[tuple[str, bytes]]:
    """Per clip, one figure: the last context frame, the ground truth at the first re-entry frame, and each
    submission's frame at the same index."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from hmworld.split import Split
    from hmworld.video import read_video

    split = Split(split_root)
    out = []
    for cid in clip_ids:
        clip = split[cid]
        entries = sorted(e.entry_frame for _, e in clip.events_file.events())
        entry = entries[0] if entries else clip.context_frames + clip.target_frames // 2
        t = min(max(entry - clip.context_frames, 0), clip.target_frames - 1)
        ctx = read_video(clip.video_path, clip.context_frames - 1, clip.context_frames)[0]
        gt = read_video(clip.video_path, clip.context_frames + t, clip.context_frames + t + 1)[0]
        panels = [("last context frame", ctx), (f"ground truth, frame {clip.context_frames + t}", gt)]
        for label, path in subs.items():
            f = path / f"{cid}.mp4"
            if f.is_file():
                panels.append((label, read_video(f, t, t + 1)[0]))
        fig, axes = plt.subplots(1, len(panels), figsize=(2.1 * len(panels), 2.4))
        for ax, (label, img) in zip(np.atleast_1d(axes), panels):
            ax.imshow(img)
            ax.set_title(label, fontsize=7)
            ax.axis("off")
        out.append((cid, _png(fig)))
    return out


def write_report(out: Path, cfg: DictConfig, rec: StudyRecord, entries, splits: dict, results: Path):
    """report/report.md (+ the PNGs beside it) and report/report.html (the same, every image inlined)."""
    from hmworld.metrics.registry import COLUMN

    rdir = out / "report"
    rdir.mkdir(parents=True, exist_ok=True)
    modes, seeds, floors = list(cfg.modes), list(cfg.seeds), list(cfg.floors)
    rows = collect(results, rec, entries)
    cols, lines = _table(rows, modes, floors)
    images: list[tuple[str, str, bytes]] = []     # (file name, caption, png)

    gap_metric = str(cfg.report.gap_metric)
    gap = _gap_plot(rows, gap_metric, [*modes, *(f"floor:{f}" for f in floors)])
    if gap is not None:
        images.append(("gap.png", f"{gap_metric} per exit-entry event against its hidden gap (mean over seeds and "
                                  "events of that gap)", gap))
    # retrieval heat maps: the first seed of each memory-reading mode, the first clips
    for mode in modes:
        if mode not in MEMORY_MODES:
            continue
        vdir = out / "views" / unit_name(mode, seeds[0])
        for png in sorted(vdir.glob("*.png"))[: int(cfg.report.heatmap_clips)]:
            images.append((f"retrieval-{mode}-{png.stem}.png", f"retrieval heat map, {mode} seed {seeds[0]}, clip "
                                                               f"{png.stem}", png.read_bytes()))
    from hmworld.split import Split

    test_ids = Split(splits["test"]).clip_ids[: int(cfg.report.sample_clips)]
    subs = {f"{m} s{seeds[0]}": out / "subs" / unit_name(m, seeds[0]) for m in modes}
    if "ceiling" in floors:
        subs = {"ceiling": out / "subs" / "floor-ceiling", **subs}
    for cid, png in _sample_frames(splits["test"], subs, test_ids):
        images.append((f"frames-{cid}.png", f"clip {cid}: context, ground truth and generated at the first re-entry "
                                            "frame", png))
    for name, _, data in images:
        atomic_write_bytes(rdir / name, data)

    units = rec.data["units"]
    ceiling = units.get("cache-train", {}).get("ceiling_psnr_db")
    stages: dict[str, float] = {}
    for u in units.values():
        if u.get("stage") == "report":
            continue
        stages[u.get("stage", "?")] = stages.get(u.get("stage", "?"), 0.0) + float(u.get("seconds") or 0.0)
    notes = _separation_notes(rows, modes, len(seeds))
    md = [f"# Memory study ({cfg.preset})", "",
          f"Modes {', '.join(modes)} x seeds {seeds}; training split {cfg.splits.train.num_clips} clips, test split "
          f"{cfg.splits.test.num_clips} clips (partition test: unseen scenes and subjects); "
          f"{int(OmegaConf.select(cfg, 'train.trainer.max_steps', default=0) or 0)} training steps per run. "
          f"Mean ± sample standard deviation over seeds (floors: one submission each). "
          + (f"Autoencoder held-out ceiling reported by `hmworld cache`: {ceiling:.2f} dB PSNR." if ceiling else ""),
          "", "| model | seeds | " + " | ".join(f"{COLUMN[c].label}{' (dB)' if COLUMN[c].unit else ''} "
                                                 f"{'↓' if not COLUMN[c].higher_is_better else '↑'}" for c in cols)
          + " | clips |", "|---|---|" + "---|" * len(cols) + "---|"]
    for ln in lines:
        md.append(f"| {ln['label']} | {ln['n']} | " + " | ".join(ln["cells"][c][2] for c in cols)
                  + f" | {ln['clips']} |")
    md += ["", *notes, "", "Stage times (this study, all runs): " +
           ", ".join(f"{k} {v:.1f} s" for k, v in stages.items()), ""]
    gap_rows = _gap_table(rows, gap_metric, [*modes, *(f"floor:{f}" for f in floors)])
    if gap_rows:
        md += [f"{gap_metric} per exit-entry event by hidden gap (mean over seeds and events; n = events x seeds):",
               "", *gap_rows, ""]
    for name, caption, _ in images:
        md += [f"![{caption}]({name})", "", f"*{caption}*", ""]
    if gap is None:
        md += [f"No per-event {gap_metric} values in the store (the masked metrics did not run, or the test split "
               "has no masks): no metric-vs-gap plot.", ""]
    md += [f"Leaderboard: `../leaderboard/index.html`; record: `../{STUDY_JSON}`.", ""]
    md_path, html_path = rdir / "report.md", rdir / "report.html"
    atomic_write_text(md_path, "\n".join(md))
    atomic_write_text(html_path, _html(cfg, cols, lines, notes, images, stages, ceiling))
    return md_path, html_path


def _separation_notes(rows: list[dict], modes: list[str], n_seeds: int) -> list[str]:
    """Plain statements of what the table does and does not show (no claim beyond the spread)."""
    metric = next((c for c in ("subject_psnr", "psnr") if any(r["values"].get(c) is not None for r in rows)), None)
    if metric is None or len(modes) < 2:
        return []
    stats = {m: _mean_sd([r["values"].get(metric) for r in rows if r["label"] == m]) for m in modes}
    stats = {m: v for m, v in stats.items() if v[0] is not None}
    if len(stats) < 2:
        return []
    best = max(stats, key=lambda m: stats[m][0])
    notes = [f"On {metric}, the highest mean is {best}'s ({stats[best][0]:.2f})."]
    if n_seeds < 2:
        notes.append("One seed per mode: no spread is measured, so no difference between modes is shown to be "
                     "more than seed noise.")
        return notes
    for m, (mean, sd) in stats.items():
        if m == best:
            continue
        sb = stats[best][1] or 0.0
        gap = stats[best][0] - mean
        sep = gap > (sb + (sd or 0.0))
        notes.append(f"{best} − {m}: {gap:+.2f} ({'larger' if sep else 'not larger'} than the sum of the two "
                     f"standard deviations, {sb + (sd or 0.0):.2f})")
    return notes


def _html(cfg, cols, lines, notes, images, stages, ceiling) -> str:
    from hmworld.metrics.registry import COLUMN

    e = html.escape
    head = "".join(f"<th>{e(COLUMN[c].label)}{' (dB)' if COLUMN[c].unit else ''}</th>" for c in cols)
    body = "".join("<tr><td>" + e(ln["label"]) + f"</td><td>{ln['n']}</td>" +
                   "".join(f"<td>{e(ln['cells'][c][2])}</td>" for c in cols) + f"<td>{e(ln['clips'])}</td></tr>"
                   for ln in lines)
    figs = "".join(f"<figure><img alt='{e(cap)}' src='data:image/png;base64,{base64.b64encode(data).decode()}'>"
                   f"<figcaption>{e(cap)}</figcaption></figure>" for _, cap, data in images)
    return (f"<!doctype html><html><head><meta charset='utf-8'><title>Memory study ({e(str(cfg.preset))})</title>"
            "<style>body{font-family:sans-serif;margin:1.5em;max-width:1200px}table{border-collapse:collapse}"
            "td,th{border:1px solid #bbb;padding:3px 8px;text-align:right}td:first-child{text-align:left}"
            "img{max-width:100%}figure{margin:1.2em 0}figcaption{font-size:.85em;color:#444}</style></head><body>"
            f"<h1>Memory study ({e(str(cfg.preset))})</h1>"
            f"<p>Modes {e(', '.join(map(str, cfg.modes)))} × seeds {e(str(list(cfg.seeds)))}: mean ± sample "
            "standard deviation over seeds; floors are one submission each."
            + (f" Autoencoder held-out ceiling (hmworld cache): {ceiling:.2f} dB PSNR." if ceiling else "") + "</p>"
            f"<table><tr><th>model</th><th>seeds</th>{head}<th>clips</th></tr>{body}</table>"
            + "".join(f"<p>{e(n)}</p>" for n in notes)
            + f"<p>Stage times: {e(', '.join(f'{k} {v:.1f} s' for k, v in stages.items()))}</p>"
            + figs + "</body></html>\n")
