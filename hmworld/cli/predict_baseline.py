"""`hmworld predict-baseline name=repeat-last|mean-context|nearest-view split=DIR out=DIR`: a reference-predictor
submission."""
from __future__ import annotations

from omegaconf import DictConfig, OmegaConf
from rich.table import Table

from hmworld.benchmark.text import terminal as T
from hmworld.cli.ui import bars, command, console, user_errors


def predict_baseline(cfg: DictConfig) -> None:
    from hmworld.benchmark.baselines import predict_baseline as run
    from hmworld.benchmark.errors import BenchmarkError

    with user_errors(), bars(cfg.progress) as progress:
        for k in ("split", "out"):
            if OmegaConf.is_missing(cfg, k):
                raise BenchmarkError(f"{k}= is required (hmworld predict-baseline name=repeat-last split=DIR out=DIR)")
        report = run(cfg.name, cfg.split, cfg.out, progress=progress)
    t = Table(title=T(f"submission {report.out}"), show_header=False, title_justify="left")
    t.add_row("predictor", report.name)
    t.add_row("this run", f"{report.written} videos written, {report.already} already there ({report.clips} clips)")
    t.add_row("time", f"{report.seconds:.1f} s")
    t.add_row("next", T(f"hmworld score submission={report.out} split={cfg.split} results=FILE.sqlite"))
    console.print(t)


main = command("predict_baseline", predict_baseline)
