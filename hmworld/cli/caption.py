"""`hmworld caption split=DIR captioner=...`: re-caption an existing split in place, resumably (see `--help`)."""
from __future__ import annotations

from omegaconf import DictConfig, OmegaConf
from rich.table import Table

from hmworld.cli.ui import bars, command, console, user_errors


def summary(report) -> Table:
    t = Table(title=f"split {report.split}", show_header=False, title_justify="left")
    t.add_row("captioner", report.captioner)
    t.add_row("this run", f"{report.captioned} clips captioned, {report.skipped} skipped (already captioned by "
                          f"{report.captioner}), {report.total} in the split")
    if report.captioned:
        t.add_row("speed", f"{report.seconds_per_clip:.2f} s per clip ({report.seconds:.1f} s captioning, "
                           f"{report.wall_seconds:.1f} s in all, model loading {report.load_seconds:.1f} s)")
    for clip_id, text in report.examples:
        t.add_row(clip_id, text)
    t.add_row("files", "clips/<clip_id>/clip.json (caption, caption_source), manifest.parquet, captions.txt")
    return t


def caption(cfg: DictConfig) -> None:
    from hmworld.captioners import build_captioner
    from hmworld.captioners.recaption import open_split, recaption_split
    from hmworld.errors import ConfigError

    with user_errors():
        if OmegaConf.is_missing(cfg, "split"):
            raise ConfigError("split=DIR is required: the split folder to re-caption")
        open_split(cfg.split)  # a wrong folder is named before a model is resolved or loaded
        captioner = build_captioner(cfg.captioner)
        try:
            with bars(cfg.progress) as progress:
                report = recaption_split(cfg.split, captioner, batch_size=cfg.batch_size, force=bool(cfg.force),
                                         limit=cfg.limit, progress=progress)
        finally:
            captioner.close()
    console.print(summary(report))


# The undecorated task function stays importable by name, so multirun launchers pickle it by reference.
main = command("caption", caption)
