"""`hmworld import-hmworld src=DIR out=DIR`: the official HM-World release -> a split (see `--help`)."""
from __future__ import annotations

from omegaconf import DictConfig, OmegaConf
from rich.table import Table

from hmworld.cli.ui import bars, command, console, user_errors


def import_hmworld(cfg: DictConfig) -> None:
    from hmworld.errors import ConfigError
    from hmworld.split.import_release import import_release

    with user_errors():
        for key in ("src", "out"):
            if OmegaConf.is_missing(cfg, key):
                raise ConfigError(f"{key}=DIR is required")
        with bars(cfg.progress) as progress:
            report = import_release(cfg.src, cfg.out, partition=cfg.partition, hfov_deg=cfg.hfov_deg,
                                    limit=cfg.limit, progress=progress)
    info = report.info or {}
    t = Table(title=f"split {report.out}", show_header=False, title_justify="left")
    t.add_row("status", f"{info.get('status')} ({info.get('num_clips_written')}/{info.get('num_clips')} clips)")
    t.add_row("this run", f"{report.written} clips imported, {report.already} already present")
    if report.events_dropped:
        t.add_row("events", f"{report.events_dropped} exit/entry pairs dropped (not exit in context, entry in target)")
    t.add_row("layout", "77 + 77 frames per clip (authors' padding); no instance masks or boxes: DSC runs detector-only")
    if info.get("fingerprint"):
        t.add_row("fingerprint", info["fingerprint"])
    console.print(t)


main = command("import_hmworld", import_hmworld)
