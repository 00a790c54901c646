"""Scoring a submission into a results store: validate, choose metrics, score what is missing, resumably.

    report = score_submission(ScoreConfig("subs/hydra", "data/test", "results.sqlite"))   # every available metric
    report = score_submission(ScoreConfig(..., metrics=["psnr", "ssim"], shard=2, num_shards=8, workers=2))

Resume and idempotence come from the store: a clip's metrics are committed together, and a clip/metric whose
rows exist with the same weights identity is never computed again. Sharding splits the split's clips by index
(i % num_shards == shard); each shard validates every file's header and decodes its own clips completely.
Workers are separate processes (spawned, each loading the models once); their results are written by this
process only, so one store never has two writers from one run.
"""
from __future__ import annotations

import importlib
import importlib.util
import math
import os
import time
from concurrent.futures import FIRST_COMPLETED, ProcessPoolExecutor, wait
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Optional, Sequence

from hmworld.configs.benchmark import ScoreConfig
from hmworld.benchmark.archive import ArchiveLimits, open_submission
from hmworld.benchmark.errors import BenchmarkError, open_complete_split
from hmworld.benchmark.store import ResultsStore, _dumps, check_store_file
from hmworld.benchmark.submission import SubmissionError
from hmworld.benchmark.thumbs import encode_thumbnail, reentry_frames
from hmworld.benchmark.validate import expected_for, refusal_message, validate_submission
from hmworld.fsutil import sha256_file
from hmworld.progress import SILENT, Progress
from hmworld.split.schema import EventsFile, SubjectsFile
# Every metric group, value key, package and weights need comes from the registry (one list).
from hmworld.metrics.registry import GROUPS

# The metric groups in the paper's column order, then ours (the scorer's names, hmworld.metrics.ALL_METRICS).
METRIC_GROUPS = tuple(g.name for g in GROUPS)
VALUE_KEYS = {g.name: g.columns for g in GROUPS}
# The details each metric group keeps (what hmworld.metrics.aggregate reads, plus diagnostics).
DETAIL_PREFIX = {g.name: g.detail_prefix for g in GROUPS}
# Python packages each metric needs beyond the base installation (the `metrics` extra; SSIM runs on torch).
PACKAGES = {g.name: g.packages for g in GROUPS if g.packages}
LEARNED = tuple(g.name for g in GROUPS if g.weights)     # need weights files


def convention_key(dsc_mode: str = "detect") -> str:
    """The convention version results are keyed by: the metrics' CONVENTION_VERSION, plus the DSC variant when
    it is not the paper's (numbers of different DSC modes must never be ranked together)."""
    from hmworld.metrics import CONVENTION_VERSION, DSC_MODES

    if dsc_mode not in DSC_MODES:
        raise BenchmarkError(f"dsc_mode={dsc_mode!r} is not one of {list(DSC_MODES)}")
    return CONVENTION_VERSION if dsc_mode == "detect" else f"{CONVENTION_VERSION}+dsc-{dsc_mode}"


# ---------------------------------------------------------------------------------------------- metric plan

@dataclass
class MetricPlan:
    compute: list[str]                          # metric groups this run computes (missing clips only)
    status: dict[str, tuple[str, str]]          # group -> (computed | weights missing | not installed | not requested, note)
    weights: dict[str, dict[str, str]]          # group -> {weights file: sha256}


_SHA_CACHE: dict[tuple[str, int, int], str] = {}


def _sha(path: Path) -> str:
    st = path.stat()
    key = (str(path), st.st_size, st.st_mtime_ns)
    if key not in _SHA_CACHE:
        _SHA_CACHE[key] = sha256_file(path)
    return _SHA_CACHE[key]


def _installed(package: str) -> bool:
    try:
        return importlib.util.find_spec(package) is not None
    except (ImportError, ValueError):      # ValueError: a module entry without a spec (blocked or half-imported)
        return False


def _missing_packages(group: str) -> list[str]:
    return [p for p in PACKAGES.get(group, ()) if not _installed(p)]


def plan_metrics(requested: Optional[Sequence[str]], weights_dir: Optional[str] = None,
                 yolo_weights: str = "yolo11x.pt") -> MetricPlan:
    """Which metrics to compute and the identity of the weights they use (nothing is downloaded here).

    requested None: every metric of the paper whose packages and weights are present; the others are recorded
    as 'weights missing' / 'not installed'. An explicit list must be computable, else every fault is named.
    """
    auto = requested is None
    wanted = list(METRIC_GROUPS) if auto else list(dict.fromkeys(requested))
    unknown = [m for m in wanted if m not in METRIC_GROUPS]
    if unknown:
        raise BenchmarkError(f"metrics={unknown}: unknown; choose from {list(METRIC_GROUPS)}")
    weights_dir = weights_dir or os.environ.get("HMWORLD_WEIGHTS_DIR") or None
    plan = MetricPlan([], {}, {})
    faults = []
    for group in METRIC_GROUPS:
        if group not in wanted:
            plan.status[group] = ("not requested", "")
            continue
        missing_pkgs = _missing_packages(group)
        if missing_pkgs:
            note = f"needs {', '.join(missing_pkgs)}: pip install 'hmworld[metrics]' (scripts/setup.sh test)"
            plan.status[group] = ("not installed", note)
            faults.append(f"{group}: {note}")
            continue
        if group not in LEARNED:
            plan.compute.append(group)
            plan.status[group] = ("computed", "")
            plan.weights[group] = {}
            continue
        from hmworld.metrics import weights as W

        ident, hints = {}, []
        for spec in (s for s in W.specs(yolo_weights) if group in s.metrics):
            path, _ = W.locate(spec, weights_dir)
            if path is None:
                hints.append(f"{spec.filenames[0]} ({spec.hint(weights_dir)})")
            else:
                ident[spec.filenames[0]] = _sha(path)
        if hints:
            note = "; ".join(hints)
            plan.status[group] = ("weights missing", note)
            faults.append(f"{group}: weights missing: {note}")
            continue
        plan.compute.append(group)
        plan.status[group] = ("computed", "")
        plan.weights[group] = ident
    if faults and not auto:
        raise BenchmarkError("cannot compute the requested metrics (see `hmworld weights`):\n" +
                             "\n".join(f"  - {f}" for f in faults))
    return plan


# ---------------------------------------------------------------------------------------------- workers

def import_string(spec: str) -> Callable:
    """'package.module:function' -> the function."""
    module, _, name = spec.partition(":")
    if not module or not name:
        raise BenchmarkError(f"models_factory={spec!r}: expected 'module:function'")
    try:
        return getattr(importlib.import_module(module), name)
    except (ImportError, AttributeError) as exc:
        raise BenchmarkError(f"models_factory={spec!r}: cannot import ({exc})") from exc


@dataclass(frozen=True)
class ModelSpec:
    """How a (worker) process builds its MetricModels; picklable, so spawned workers can rebuild them."""

    weights_dir: Optional[str] = None
    device: Optional[str] = None
    yolo_weights: str = "yolo11x.pt"
    factory: Optional[str] = None
    threads: Optional[int] = None

    def apply_threads(self) -> None:
        """torch's intra-op threads for this process (SSIM and every model run on torch), once it is needed."""
        if self.threads and _installed("torch"):
            import torch

            if torch.get_num_threads() != int(self.threads):
                torch.set_num_threads(int(self.threads))

    def build(self):
        self.apply_threads()
        if self.factory:
            return import_string(self.factory)(weights_dir=self.weights_dir, device=self.device,
                                               yolo_weights=self.yolo_weights)
        from hmworld.metrics import MetricModels

        return MetricModels(weights_dir=self.weights_dir, device=self.device, yolo_weights=self.yolo_weights,
                            allow_download=False)


@dataclass(frozen=True)
class ClipTask:
    clip_id: str
    pred_path: str
    gt_path: str
    context_frames: int
    includes_context: bool
    groups: tuple[str, ...]
    events: EventsFile
    subjects: SubjectsFile | None
    dsc_mode: str
    thumb_frames: tuple[int, ...]      # absolute clip frame indices (re-entry frames)
    gt_thumbs: bool                    # also cut the ground-truth thumbnails (not stored yet)
    instances_path: Optional[str] = None   # the ground truth's instance masks (None: the clip has none)


@dataclass
class ClipResult:
    clip_id: str
    values: dict[str, Optional[float]]
    details: dict[str, Any]
    seconds: dict[str, float]
    thumbs: list[tuple[str, int, str, bytes]]    # (gt | pred, frame, mime, data)
    error: Optional[str] = None


_WORKER: dict[str, Any] = {}


def _worker_init(spec: ModelSpec) -> None:
    _WORKER["spec"] = spec
    _WORKER["models"] = None


def _worker_models(groups: Sequence[str]):
    # Loaded on first need only: a psnr/ssim run never imports torch.
    if any(g in LEARNED for g in groups) and _WORKER.get("models") is None:
        _WORKER["models"] = _WORKER["spec"].build()
    return _WORKER.get("models")


def run_clip(task: ClipTask, models=None) -> ClipResult:
    """Decode both videos once, compute the task's metrics and cut its thumbnails."""
    from hmworld.metrics import DSCConfig, MetricInputError, load_clip_videos, score_clip

    try:
        videos = load_clip_videos(task.pred_path, task.gt_path, task.context_frames, task.includes_context)
        values, details, seconds = {}, {}, {"decode": videos.decode_seconds}
        if task.groups:
            instances = _instances(task) if "masked" in task.groups else None
            s = score_clip(videos.pred, videos.target, videos.context, metrics=list(task.groups),
                           events=task.events, subjects=task.subjects, models=models,
                           dsc_config=DSCConfig(mode=task.dsc_mode), clip_id=task.clip_id, instances=instances)
            values, details = dict(s.values), dict(s.details)
            seconds.update(s.seconds)
        thumbs = []
        for frame in task.thumb_frames:
            t = frame - task.context_frames
            thumbs.append(("pred", frame, *encode_thumbnail(videos.pred[t])))
            if task.gt_thumbs:
                thumbs.append(("gt", frame, *encode_thumbnail(videos.target[t])))
        return ClipResult(task.clip_id, values, details, seconds, thumbs)
    except (MetricInputError, ValueError, OSError) as exc:
        return ClipResult(task.clip_id, {}, {}, {}, [], error=f"{type(exc).__name__}: {exc}")


def _instances(task: ClipTask):
    """The clip's instance masks, or None when it has none (the masked metrics are then not applicable)."""
    import numpy as np

    from hmworld.metrics import MetricInputError

    if not task.instances_path:
        return None
    try:
        with np.load(task.instances_path) as z:
            return z["instances"]
    except (OSError, KeyError, ValueError) as exc:
        raise MetricInputError(f"clip {task.clip_id}: instance masks {task.instances_path} unreadable "
                               f"({type(exc).__name__}: {exc})") from exc


def _run_in_worker(task: ClipTask) -> ClipResult:
    if any(g in PACKAGES for g in task.groups):
        _WORKER["spec"].apply_threads()
    return run_clip(task, _worker_models(task.groups))


# ---------------------------------------------------------------------------------------------- report

@dataclass
class ScoreReport:
    submission: str
    submission_id: str
    model: str
    split: str
    split_fingerprint: str
    convention_version: str
    results: str
    shard: int
    num_shards: int
    metric_status: dict[str, tuple[str, str]]
    clips_in_split: int
    clips_in_shard: int
    valid: int
    invalid: dict[str, list[str]]                  # clip id -> its problems (partial=true)
    other_problems: list[str]                      # ignored under partial=true (extra files, foreign names ...)
    scored: int = 0                                # clips computed in this run
    already: int = 0                               # clips whose metrics were all stored already
    failed: dict[str, str] = field(default_factory=dict)
    remaining: int = 0                             # left for a later run (limit=N)
    seconds: float = 0.0
    validate_seconds: float = 0.0
    metric_seconds: dict[str, float] = field(default_factory=dict)
    aggregate: dict[str, Optional[float]] = field(default_factory=dict)
    clips_aggregated: int = 0


# ---------------------------------------------------------------------------------------------- scoring

def _details_for(group: str, details: dict) -> dict:
    out = {k: v for k, v in details.items() if k.startswith(DETAIL_PREFIX[group])}
    if "frames" in details:
        out["frames"] = details["frames"]
    return out


def shard_clips(clip_ids: Sequence[str], shard: int, num_shards: int) -> list[str]:
    if num_shards < 1 or not 0 <= shard < num_shards:
        raise BenchmarkError(f"shard={shard} num_shards={num_shards}: need 0 <= shard < num_shards")
    return [c for i, c in enumerate(clip_ids) if i % num_shards == shard]


def _count(name: str, value, minimum: int, optional: bool = False) -> Optional[int]:
    if value is None and optional:
        return None
    if isinstance(value, bool) or not isinstance(value, (int, str)):
        raise BenchmarkError(f"{name}={value!r}: expected a whole number >= {minimum}"
                             + (" (or null)" if optional else ""))
    try:
        n = int(value)
    except ValueError:
        raise BenchmarkError(f"{name}={value!r}: expected a whole number >= {minimum}") from None
    if n < minimum:
        raise BenchmarkError(f"{name}={n}: must be at least {minimum}" + (" (or null)" if optional else ""))
    return n


def check_settings(metrics, workers, threads, limit, shard, num_shards):
    """The scoring settings, checked and normalised; BenchmarkError names the first one at fault."""
    if metrics is not None:
        if isinstance(metrics, str):
            metrics = [metrics]
        metrics = list(metrics)
        if not metrics:
            raise BenchmarkError("metrics=[]: empty; give null for every available metric, or a list such as "
                                 f"[psnr,ssim] (from {list(METRIC_GROUPS)})")
        bad = [m for m in metrics if not isinstance(m, str)]
        if bad:
            raise BenchmarkError(f"metrics={bad!r}: metric names are text, from {list(METRIC_GROUPS)}")
    workers = _count("workers", workers, 1)
    threads = _count("threads", threads, 1, optional=True)
    limit = _count("limit", limit, 0, optional=True)
    num_shards = _count("num_shards", num_shards, 1)
    shard = _count("shard", shard, 0)
    if shard >= num_shards:
        raise BenchmarkError(f"shard={shard} num_shards={num_shards}: need 0 <= shard < num_shards")
    return metrics, workers, threads, limit, shard, num_shards


def archive_limits(split) -> ArchiveLimits:
    """Unpacking bounds from what a submission of this split can hold (with context, each video at most twice
    its raw size, see validate.Expected.max_bytes)."""
    rows = split.manifest.to_dict("records")
    total = sum(expected_for(r, True).max_bytes for r in rows) + (16 << 20)
    biggest = max((expected_for(r, True).max_bytes for r in rows), default=1 << 20)
    return ArchiveLimits(max_members=2 * len(rows) + 64, max_total_bytes=total, max_member_bytes=biggest)


def score_submission(config: ScoreConfig, *, models=None,
                     progress: Progress = SILENT) -> ScoreReport:
    """Validate `config.submission` against `config.split` and store per-clip scores in `config.results` (see the
    module doc); the settings and their defaults are ScoreConfig's (the `hmworld score` schema).

    models: a MetricModels to use in this process (workers=1 only; tests inject tiny models this way).
    config.models_factory: 'module:function(weights_dir=, device=, yolo_weights=)' building one per worker.
    progress: hmworld.progress.Progress; counts "validating" (clips decoded) and "scoring" (clips scored).
    """
    started = time.perf_counter()
    c = config
    submission, split, results, partial = c.submission, c.split, c.results, bool(c.partial)
    weights_dir, device, yolo_weights, dsc_mode = c.weights_dir, c.device, c.yolo_weights, c.dsc_mode
    models_factory = c.models_factory
    metrics, workers, threads, limit, shard, num_shards = check_settings(c.metrics, c.workers, c.threads, c.limit,
                                                                         c.shard, c.num_shards)
    if models is not None and workers > 1:
        raise BenchmarkError("injected models work with workers=1 only (use models_factory for worker processes)")
    sp = open_complete_split(split)
    conv = convention_key(dsc_mode)
    clip_ids = sp.clip_ids
    mine = shard_clips(clip_ids, shard, num_shards)
    plan = plan_metrics(metrics, weights_dir, yolo_weights)
    check_store_file(Path(results))     # a file that is not a results store is refused before any work

    with open_submission(submission, archive_limits(sp)) as root:
        with progress.start("validating", len(mine)) as decoded:
            v = validate_submission(root, sp, decode_clips=mine, progress=decoded.advance)
        validate_seconds = time.perf_counter() - started
        if v.fatal or (v.problems and not partial):
            raise SubmissionError(refusal_message(v, str(submission), partial_hint=not partial))
        info = v.info
        key = (v.submission_id, sp.fingerprint, conv)
        report = ScoreReport(
            submission=str(submission), submission_id=v.submission_id, model=info.model, split=str(split),
            split_fingerprint=sp.fingerprint, convention_version=conv, results=str(results), shard=shard,
            num_shards=num_shards, metric_status=plan.status, clips_in_split=len(clip_ids), clips_in_shard=len(mine),
            valid=sum(v.valid(c) for c in mine),
            invalid={c: [p.message for p in v.clip_problems(c)] for c in mine if not v.valid(c)},
            other_problems=[str(p) for p in v.problems if p.clip_id is None],
            validate_seconds=validate_seconds)

        verify_ground_truth(sp, [c for c in mine if v.valid(c)])
        with ResultsStore(results) as store:
            store.put_submission(key, info.model, info.to_dict(), len(clip_ids))
            store.put_clip_statuses(key, [(c, "valid" if v.valid(c) else "invalid",
                                           [p.message for p in v.clip_problems(c)], v.clip_sha256.get(c))
                                          for c in mine])
            store.put_metric_status(key, plan.status)
            done = store.done_groups(key)
            have_thumbs = store.thumbnail_keys(sp.fingerprint)
            tasks = []
            for c in mine:
                if not v.valid(c):
                    continue
                todo = tuple(g for g in plan.compute
                             if done.get(c, {}).get(g) != _dumps(plan.weights[g]))
                clip = sp[c]
                frames = tuple(f for f in reentry_frames(clip.events_file, clip.context_frames, clip.target_frames))
                want_pred = any((key[0], c, f) not in have_thumbs for f in frames)
                want_gt = any(("gt", c, f) not in have_thumbs for f in frames)
                if not todo and not want_pred and not want_gt:
                    report.already += 1
                    continue
                tasks.append(ClipTask(c, str(v.clip_files[c]), str(clip.video_path), clip.context_frames,
                                      bool(info.includes_context), todo, clip.events_file, clip.subjects_file, dsc_mode,
                                      frames, want_gt, instances_path_of(sp, clip)))
            if limit is not None and len(tasks) > limit:
                report.remaining = len(tasks) - int(limit)
                tasks = tasks[: int(limit)]
            spec = ModelSpec(weights_dir=weights_dir or os.environ.get("HMWORLD_WEIGHTS_DIR") or None, device=device,
                             yolo_weights=yolo_weights, factory=models_factory, threads=threads)
            _run_tasks(tasks, store, key, plan, spec, models, workers, report, progress)
        from hmworld.benchmark.leaderboard import summarize_submission

        with ResultsStore(results, create=False) as store:
            summary = summarize_submission(store, {"submission_id": key[0], "split_fingerprint": key[1],
                                                   "convention_version": key[2], "model": info.model,
                                                   "split_clips": len(clip_ids), "info": info.to_dict()})
        report.aggregate = summary.values
        report.clips_aggregated = summary.clips
    report.seconds = time.perf_counter() - started
    if report.failed:
        lines = "\n".join(f"  - {video_name_of(c)}: {e}" for c, e in sorted(report.failed.items()))
        raise BenchmarkError(f"{len(report.failed)} clip(s) could not be scored (the others are stored; rerun to "
                             f"retry):\n{lines}")
    return report


def instances_path_of(split, clip) -> Optional[str]:
    """The clip's instances.npz inside the split folder, or None when the clip has none (imported clips)."""
    from hmworld.benchmark.text import contained

    rel = clip.row.get("instances_path")
    if not isinstance(rel, str) or not rel:
        return None
    path = Path(split.root) / rel
    if not contained(Path(split.root), path) or not path.is_file():
        return None
    return str(path)


def manifest_fingerprint(split) -> Optional[str]:
    """The fingerprint the split's manifest rows hash to (hmworld.split.format.fingerprint), or None."""
    import numpy as np

    from hmworld.split.format import ClipRecord, fingerprint

    def plain(v):
        if isinstance(v, np.ndarray):
            return [plain(x) for x in v.tolist()]
        if isinstance(v, list):
            return [plain(x) for x in v]
        if isinstance(v, np.integer):
            return int(v)
        if isinstance(v, np.floating):
            return float(v)
        return v

    try:
        records = [ClipRecord.from_json({k: plain(v) for k, v in r.items()})
                   for r in split.manifest.to_dict("records")]
        return fingerprint(records)
    except (TypeError, ValueError) as exc:
        return f"(unreadable: {exc})"


def verify_ground_truth(split, clip_ids: Sequence[str]) -> None:
    """Every ground-truth video (and instances.npz, where the row records its hash) about to be read must be the
    one the split's fingerprint covers: the manifest rows must hash to split.json's fingerprint, and each file lie
    inside the split folder with the sha256 its row records (the rows are what the fingerprint hashes). A file
    edited after the split was written would give other scores under the same fingerprint; it is refused,
    naming the clip, before anything is stored."""
    from hmworld.benchmark.text import contained

    faults = []
    root = Path(split.root)
    recomputed = manifest_fingerprint(split)
    if recomputed != split.fingerprint:
        faults.append(f"manifest.parquet hashes to {str(recomputed)[:16]}..., split.json names "
                      f"{str(split.fingerprint)[:16]}... (the manifest was edited after the split was written)")
    for c in clip_ids:
        clip = split[c]
        path = Path(clip.video_path)
        expected = str(clip.row.get("video_sha256") or "")
        if not contained(root, path):
            faults.append(f"clip {c}: ground-truth video {clip.row.get('video_path')!r} lies outside the split folder")
        elif not path.is_file():
            faults.append(f"clip {c}: ground-truth video {path} is missing")
        elif not expected:
            faults.append(f"clip {c}: the manifest records no sha256 for {path}")
        else:
            got = sha256_file(path)
            if got != expected:
                faults.append(f"clip {c}: ground-truth video {path} has sha256 {got[:16]}..., the split's fingerprint "
                              f"covers {expected[:16]}... (edited after the split was written)")
        # The masks the masked metrics and DSC read: checked like the video wherever the manifest records a hash.
        masks_expected = str(clip.row.get("instances_sha256") or "")
        if masks_expected:
            masks = root / str(clip.row.get("instances_path") or "")
            if not contained(root, masks) or not masks.is_file():
                faults.append(f"clip {c}: instance masks {clip.row.get('instances_path')!r} are missing or lie "
                              "outside the split folder")
            else:
                got = sha256_file(masks)
                if got != masks_expected:
                    faults.append(f"clip {c}: instance masks {masks} have sha256 {got[:16]}..., the split's "
                                  f"fingerprint covers {masks_expected[:16]}... (edited after the split was written)")
    if faults:
        raise BenchmarkError(f"split={root}: ground truth does not match its fingerprint; nothing was scored:\n"
                             + "\n".join(f"  - {f}" for f in faults))


def video_name_of(clip_id: str) -> str:
    from hmworld.benchmark.submission import video_name

    return video_name(clip_id)


def _store_result(store: ResultsStore, key, plan: MetricPlan, task: ClipTask, res: ClipResult,
                  report: ScoreReport) -> None:
    if res.error:
        report.failed[res.clip_id] = res.error
        return
    rows = []
    events = []
    if "masked" in task.groups:
        for i, ev in enumerate(res.details.get("masked_events_list") or []):
            for k, val in ev["values"].items():
                if val is not None and not math.isfinite(val):
                    report.failed[res.clip_id] = f"event {i} {k} is {val} (not finite)"
                    return
            events.append((i, ev))
    for g in task.groups:
        det = {k: v for k, v in _details_for(g, res.details).items() if k != "masked_events_list"}
        for k in VALUE_KEYS[g]:
            val = res.values.get(k)
            if val is not None and not math.isfinite(val):
                report.failed[res.clip_id] = f"{k} is {val} (not finite)"
                return
            rows.append((k, g, val, det, plan.weights[g]))
    thumbs = [(key[0] if src == "pred" else "gt", fr, mime, data) for src, fr, mime, data in res.thumbs]
    store.put_clip_scores(key, res.clip_id, rows, {g: res.seconds.get(g, 0.0) for g in task.groups}, thumbs,
                          events)
    for g, s in res.seconds.items():
        report.metric_seconds[g] = report.metric_seconds.get(g, 0.0) + s
    report.scored += 1


def _run_tasks(tasks: list[ClipTask], store: ResultsStore, key, plan: MetricPlan, spec: ModelSpec, models,
               workers: int, report: ScoreReport, progress: Progress) -> None:
    if not tasks:
        return
    scored = progress.start("scoring", len(tasks))
    try:
        if workers == 1:
            local = models
            for task in tasks:
                if any(g in PACKAGES for g in task.groups):
                    spec.apply_threads()
                if local is None and any(g in LEARNED for g in task.groups):
                    local = spec.build()
                _store_result(store, key, plan, task, run_clip(task, local), report)
                scored.advance()
            return
        import multiprocessing as mp

        # spawn: torch and PyAV threads do not survive fork; each worker loads its models once.
        with ProcessPoolExecutor(max_workers=workers, mp_context=mp.get_context("spawn"),
                                 initializer=_worker_init, initargs=(spec,)) as pool:
            pending, queue = {}, list(reversed(tasks))
            try:
                while queue or pending:
                    # At most two clips in flight per worker keeps decoded videos from piling up in memory.
                    while queue and len(pending) < 2 * workers:
                        t = queue.pop()
                        pending[pool.submit(_run_in_worker, t)] = t
                    finished, _ = wait(pending, return_when=FIRST_COMPLETED)
                    for fut in sorted(finished, key=lambda f: pending[f].clip_id):
                        t = pending.pop(fut)
                        _store_result(store, key, plan, t, fut.result(), report)
                        scored.advance()
            except BaseException:
                pool.shutdown(wait=False, cancel_futures=True)
                raise
    finally:
        scored.close()
