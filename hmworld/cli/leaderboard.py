"""`hmworld leaderboard results=FILE.sqlite out=DIR`: leaderboard.csv, leaderboard.md, reported.csv, index.html."""
from __future__ import annotations

from omegaconf import DictConfig, OmegaConf
from rich.table import Table

from hmworld.benchmark.text import terminal as T
from hmworld.cli.ui import command, console, user_errors


def leaderboard(cfg: DictConfig) -> None:
    from hmworld.benchmark.errors import BenchmarkError
    from hmworld.benchmark.leaderboard import NOT_APPLICABLE, build_leaderboard
    from hmworld.benchmark.page import BOARD_COLUMNS
    from hmworld.metrics.registry import COLUMN

    with user_errors():
        for k in ("results", "out"):
            if OmegaConf.is_missing(cfg, k):
                raise BenchmarkError(f"{k}= is required (hmworld leaderboard results=FILE.sqlite out=DIR)")
        if not isinstance(cfg.results, str) or not isinstance(cfg.out, str) or not cfg.out.strip():
            raise BenchmarkError(f"results={cfg.results!r} out={cfg.out!r}: both must be paths")
        report = build_leaderboard(cfg.results, cfg.out, rank_by=cfg.rank_by, title=str(cfg.title))
    for g in report.groups:
        title = f"split {g.split_fingerprint[:16]} · conventions {g.convention_version} ({g.split_clips} clips)"
        t = Table(title=T(title), title_justify="left")
        # The main table's columns (the registry's board columns) that some submission of the group has.
        cols = [c for c in BOARD_COLUMNS if any(s.values.get(c) is not None or c in s.not_applicable
                                                for s in g.rows)]
        for col in ("#", "model", *(COLUMN[c].label for c in cols), "clips"):
            t.add_column(col, justify="left" if col == "model" else "right")
        for s in g.rows:
            v = s.values
            t.add_row(str(s.rank or "-"), T(s.display, 80),
                      *(NOT_APPLICABLE if c in s.not_applicable else "" if v[c] is None else f"{v[c]:.3f}"
                        for c in cols), f"{s.clips}/{s.split_clips}")
        console.print(t)
    page = report.page.resolve()
    console.print(T(f"wrote {', '.join(report.files)} and {report.thumbnails} thumbnails into {report.out}"))
    console.print(f"leaderboard page: [bold]{T(page)}[/] (open {T(page.as_uri())})", soft_wrap=True, highlight=False)


main = command("leaderboard", leaderboard)
