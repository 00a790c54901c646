"""`hmworld study preset=cpu|paper|micro out=DIR [overrides]`: the memory study in one resumable command (see
`--help`, hmworld/study.py and model/TRAINING.md "The memory study")."""
from __future__ import annotations

import sys

from omegaconf import DictConfig
from rich.table import Table

from hmworld.cli.ui import bars, command, console, user_errors


def presets() -> list[str]:
    import importlib.resources as res

    root = res.files("hmworld.render_configs") / "study_preset"
    return sorted(p.name[:-5] for p in root.iterdir() if p.name.endswith(".yaml"))


def study(cfg: DictConfig) -> None:
    from hmworld.study import run_study

    with user_errors(), bars(cfg.progress) as progress:
        report = run_study(cfg, say=lambda m: console.print(m, highlight=False, markup=False), progress=progress)
    import json

    data = json.loads((report.out / "study.json").read_text())
    t = Table(title=f"study {report.out} (preset {cfg.preset})", title_justify="left")
    for col in ("unit", "status", "seconds", "this run"):
        t.add_column(col)
    ran = {n for n, _ in report.ran}
    for name, u in data["units"].items():
        t.add_row(name, u.get("status", "?"), f"{u.get('seconds', 0):.1f}", "ran" if name in ran else "skipped")
    console.print(t)
    console.print(f"{len(report.ran)} units ran, {len(report.skipped)} were done already; {report.seconds:.1f} s")
    console.print(f"report: {report.report_md} and {report.report_html}", highlight=False)


_main = command("study", study)


def main():
    """`preset=NAME` is the study_preset group's choice (checked here, so an unknown one is a one-line error)."""
    from hmworld.errors import ConfigError

    args = []
    with user_errors():
        for a in sys.argv[1:]:
            if a.startswith("preset="):
                name = a.split("=", 1)[1]
                if name not in presets():
                    raise ConfigError(f"preset={name!r}: unknown; choose one of {presets()} "
                                      "(render_configs/study_preset/)")
                a = f"study_preset={name}"
            args.append(a)
    sys.argv = [sys.argv[0], *args]
    return _main()
