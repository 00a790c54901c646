"""`hmworld score submission=DIR split=DIR results=FILE.sqlite`: validate a submission and score it into a
results store, resumably (see `--help` and benchmark/README.md)."""
from __future__ import annotations

from omegaconf import DictConfig, OmegaConf
from rich.table import Table

from hmworld.benchmark.text import terminal as T
from hmworld.cli.ui import bars, command, console, user_errors


def _fmt(v) -> str:
    return "-" if v is None else f"{v:.4f}"


def summary(r) -> Table:
    # Everything a submission says (model, problems quoting its file names) is shown escaped: T().
    t = Table(title=T(f"{r.model} ({r.submission_id}) on {r.split}"), show_header=False, title_justify="left")
    t.add_row("split", f"fingerprint {r.split_fingerprint[:16]}..., {r.clips_in_split} clips; "
                       f"shard {r.shard}/{r.num_shards}: {r.clips_in_shard} clips")
    t.add_row("conventions", T(f"version {r.convention_version}"))
    computed = [m for m, (s, _) in r.metric_status.items() if s == "computed"]
    t.add_row("metrics", ", ".join(computed) or "none")
    for m, (s, note) in r.metric_status.items():
        if s in ("weights missing", "not installed"):
            t.add_row(T(f"  {m}"), T(f"{s}: {note}"))
    t.add_row("validation", f"{r.valid} valid, {len(r.invalid)} invalid clips ({r.validate_seconds:.1f} s)")
    for c, probs in sorted(r.invalid.items()):
        t.add_row("", T(f"  {c}.mp4: {'; '.join(probs)}"))
    for p in r.other_problems:
        t.add_row("", T(f"  ignored: {p}"))
    t.add_row("this run", f"{r.scored} clips scored, {r.already} already in the store"
                          + (f", {r.remaining} left for the next run (limit)" if r.remaining else ""))
    if r.scored:
        per = {k: v / r.scored for k, v in sorted(r.metric_seconds.items())}
        t.add_row("time per clip", ", ".join(f"{k} {v:.2f} s" for k, v in per.items()))
    t.add_row("split figures", f"over {r.clips_aggregated} clips in the store: " +
              ", ".join(f"{k} {_fmt(v)}" for k, v in r.aggregate.items() if v is not None))
    t.add_row("results", T(f"{r.results} (build the page: hmworld leaderboard results={r.results} out=DIR)"))
    t.add_row("wall time", f"{r.seconds:.1f} s")
    return t


def score(cfg: DictConfig) -> None:
    from hmworld.benchmark.errors import BenchmarkError
    from hmworld.benchmark.scoring import score_submission

    with user_errors(), bars(cfg.progress) as progress:
        for k in ("submission", "split", "results"):
            if OmegaConf.is_missing(cfg, k):
                raise BenchmarkError(f"{k}= is required (hmworld score submission=DIR split=DIR results=FILE.sqlite)")
        report = score_submission(cfg, progress=progress)
    console.print(summary(report))


# The undecorated task function stays importable by name, so multirun launchers pickle it by reference.
main = command("score", score)
