"""`hmworld score-merge inputs=[a.sqlite,b.sqlite] results=FILE.sqlite`: join results stores (shards) into one."""
from __future__ import annotations

from omegaconf import DictConfig, OmegaConf
from rich.table import Table

from hmworld.benchmark.text import terminal as T
from hmworld.cli.ui import command, console, user_errors


def score_merge(cfg: DictConfig) -> None:
    from hmworld.benchmark.errors import BenchmarkError
    from hmworld.benchmark.merge import merge_stores

    with user_errors():
        if OmegaConf.is_missing(cfg, "results") or OmegaConf.is_missing(cfg, "inputs"):
            raise BenchmarkError("inputs=[...] and results= are required (hmworld score-merge inputs=[a.sqlite,b.sqlite] "
                                 "results=merged.sqlite)")
        inputs = [cfg.inputs] if isinstance(cfg.inputs, str) else list(cfg.inputs)
        report = merge_stores(inputs, cfg.results)
    t = Table(title=T(f"merged into {report.results}"), show_header=False, title_justify="left")
    t.add_row("inputs", T(", ".join(report.inputs)))
    for table in sorted(report.added):
        t.add_row(table, f"{report.added[table]} rows added" +
                  (f", {report.skipped[table]} already present" if report.skipped.get(table) else ""))
    t.add_row("submissions", f"{report.submissions} in the store")
    t.add_row("next", T(f"hmworld leaderboard results={report.results} out=DIR"))
    console.print(t)


main = command("score_merge", score_merge)
