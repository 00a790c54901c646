"""`hmworld retrieval-view run=SUBMISSION_DIR out=DIR`: heat maps of the memory frames each target frame retrieved
(logged by `hmworld generate ... save_retrieval=true`), beside each subject's visibility (see `--help`)."""
from __future__ import annotations

from pathlib import Path

from omegaconf import DictConfig, OmegaConf
from rich.table import Table

from hmworld.cli.ui import command, console, user_errors


def retrieval_view(cfg: DictConfig) -> None:
    from hmworld.errors import ConfigError
    from hmworld.split import Split

    with user_errors():
        for key in ("run", "out"):
            if OmegaConf.is_missing(cfg, key):
                raise ConfigError(f"{key}= is required (run: the folder `hmworld generate ... save_retrieval=true` "
                                  "wrote; out: where the PNGs and index.html go)")
        run = Path(cfg.run)
        if not run.is_dir():  # named before torch and the model code load (seconds)
            raise ConfigError(f"run={run}: not a folder (the submission folder `hmworld generate ... "
                              "save_retrieval=true` wrote)")
        from hmworld.model.generate import read_retrieval, retrieval_dir
        from hmworld.model.retrieval_view import write_views

        logs_dir = retrieval_dir(run)
        if not logs_dir.is_dir():
            raise ConfigError(f"run={run}: no retrieval logs ({logs_dir} does not exist); generate with "
                              "save_retrieval=true (modes dynamic and fov log retrievals)")
        logs = sorted(logs_dir.glob("*.npz"))
        if cfg.clips:
            want = [str(c) for c in cfg.clips]
            missing = [c for c in want if not (logs_dir / f"{c}.npz").is_file()]
            if missing:
                raise ConfigError(f"clips={want}: no retrieval log for {missing} in {logs_dir}")
            logs = [logs_dir / f"{c}.npz" for c in want]
        if not logs:
            raise ConfigError(f"{logs_dir}: holds no retrieval logs (*.npz)")
        split_root = cfg.split or read_retrieval(logs[0])["meta"].get("split")
        split = None
        if split_root:
            try:
                split = Split(split_root)
            except Exception as exc:  # a moved split: the heat maps still draw, without visibility
                raise ConfigError(f"split={split_root}: cannot open it ({exc}); pass split=DIR") from exc
        written = write_views(logs, Path(cfg.out), split, title=f"retrieval: {run}")
    t = Table(title=f"retrieval views {cfg.out}", show_header=False, title_justify="left")
    t.add_row("run", f"{run} ({len(logs)} clips)")
    t.add_row("split", str(split.root) if split else "none (no visibility strips)")
    t.add_row("written", f"{len(written) - 1} PNG + {written[-1]}")
    console.print(t)


main = command("retrieval_view", retrieval_view)
