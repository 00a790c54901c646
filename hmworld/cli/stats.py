"""`hmworld stats split=DIR [reference=FILE] [out=DIR] [strict=true]`: the dataset card (see `--help`)."""
from __future__ import annotations

import sys

from omegaconf import DictConfig, OmegaConf
from rich import box
from rich.markup import escape
from rich.table import Table

from hmworld.cli.ui import bars, command, console, err_console, user_errors


def _fmt(v) -> str:
    from hmworld.stats.page import fmt

    return fmt(v)


def summary_tables(report) -> list[Table]:
    doc = report.doc
    split = doc["split"]
    t = Table(title=f"dataset card: split {escape(split['path'])} ({split['clips_in_card']} clips)",
              title_justify="left", box=box.SIMPLE_HEAD, pad_edge=False,
              caption="value: min / median / max of a numeric figure; fraction (count of n) of a yes/no figure",
              caption_justify="left")
    t.add_column("figure", no_wrap=True)
    t.add_column("n", justify="right")
    t.add_column("n/a", justify="right")
    t.add_column("value", justify="right", no_wrap=True)
    for name, f in doc["figures"].items():
        if not f["n"]:
            value = "n/a"
        elif f["kind"] == "number":
            value = " / ".join(_fmt(f[k]) for k in ("min", "median", "max"))
        else:
            value = f"{_fmt(f['fraction'])} ({f['count']} of {f['n']})"
        t.add_row(name, str(f["n"]), str(f["n_missing"]), value)
    tables = [t]
    counts = Table(title="counts (most frequent first)", title_justify="left", show_header=False, box=box.SIMPLE)
    counts.add_column(no_wrap=True)
    counts.add_column()
    for key, c in doc["counts"].items():
        shown = ", ".join(f"{escape(k)} {n}" for k, n in list(c.items())[:8])
        counts.add_row(key, (shown + (f", ... ({len(c) - 8} more)" if len(c) > 8 else "")) or "-")
    tables.append(counts)
    if report.profile is not None:
        r = Table(title=f"reference {escape(report.profile.name)} ({escape(str(report.profile.path))})",
                  title_justify="left", box=box.SIMPLE_HEAD, pad_edge=False,
                  caption="* frame-valued range scaled by split context / profile context frames"
                  if any(c.scale != 1.0 for c in report.checks) else None, caption_justify="left")
        r.add_column("figure", no_wrap=True)
        r.add_column("stat", no_wrap=True)
        r.add_column("value", justify="right", no_wrap=True)
        r.add_column("range", justify="right", no_wrap=True)
        r.add_column("", no_wrap=True)
        for c in report.checks:
            style = {"OK": "green", "OUTSIDE": "bold red"}.get(c.status, "dim")
            scaled = "*" if c.scale != 1.0 else ""
            r.add_row(c.figure, c.stat, _fmt(c.value), f"{_fmt(c.lo)} - {_fmt(c.hi)}{scaled}",
                      f"[{style}]{c.status}[/]")
        tables.append(r)
    return tables


def stats(cfg: DictConfig) -> None:
    from hmworld.stats import StatsError, build_card

    with user_errors():
        if OmegaConf.is_missing(cfg, "split") or cfg.split in (None, ""):
            raise StatsError("split=DIR is required (hmworld stats split=DIR [reference=FILE] [out=DIR])")
        for key in ("strict", "progress"):
            if not isinstance(cfg[key], bool):
                raise StatsError(f"{key}={cfg[key]} must be true or false")
        if cfg.strict and cfg.reference in (None, ""):
            raise StatsError("strict=true needs reference=FILE (a profile to compare with), e.g. reference=hmworld_examples")
        with bars(cfg.progress) as progress:
            report = build_card(str(cfg.split), out=None if cfg.out in (None, "") else str(cfg.out),
                                reference=None if cfg.reference in (None, "") else str(cfg.reference),
                                progress=progress)
    for w in report.warnings:
        err_console.print(f"[yellow]warning:[/] {escape(w)}", highlight=False, soft_wrap=True)
    for t in summary_tables(report):
        console.print(t)
    card = report.card
    console.print(f"{len(card.clips)} clips, {len(card.subjects)} subjects, {len(card.events)} exit-entry events; "
                  f"wrote {', '.join(escape(str(p)) for p in report.files)}", highlight=False, soft_wrap=True)
    console.print(f"dataset card page: [bold]{escape(str(report.files[1].resolve()))}[/]", highlight=False,
                  soft_wrap=True)
    if report.profile is not None:
        outside = report.outside
        na = sum(c.status == "n/a" for c in report.checks)
        line = (f"reference {escape(report.profile.name)}: {len(report.checks) - len(outside) - na} OK, "
                f"{len(outside)} outside, {na} n/a")
        if outside:
            line += f" (outside: {', '.join(c.figure for c in outside)})"
        console.print(line, highlight=False, soft_wrap=True)
        if outside and cfg.strict:
            sys.exit(1)


main = command("stats", stats)
