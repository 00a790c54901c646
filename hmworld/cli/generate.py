"""`hmworld generate checkpoint=FILE split=DIR out=DIR` (or `video=... camera=...`): predict target frames."""
from __future__ import annotations

from omegaconf import DictConfig, OmegaConf
from rich.table import Table

from hmworld.cli.ui import bars, command, console, user_errors


def generate(cfg: DictConfig) -> None:
    from pathlib import Path

    from hmworld.errors import ConfigError
    from hmworld.split import Split

    with user_errors():
        for key in ("checkpoint", "out"):
            if OmegaConf.is_missing(cfg, key):
                raise ConfigError(f"{key}= is required")
        single = cfg.video is not None or cfg.camera is not None
        if single and cfg.split is not None:
            raise ConfigError("give either split=DIR (every clip) or video=... camera=... (one clip), not both")
        if single and (cfg.video is None or cfg.camera is None):
            raise ConfigError("the single-clip form needs both video=CONTEXT.mp4 and camera=CAMERA.json")
        if not single and cfg.split is None:
            raise ConfigError("split=DIR is required (or video=... camera=... for one clip)")
        # named before torch and the model code load (seconds): a missing checkpoint, a wrong split folder
        if not Path(cfg.checkpoint).is_file():
            raise ConfigError(f"checkpoint={cfg.checkpoint}: checkpoint not found")
        if not single:
            Split(cfg.split)
        from hmworld.devices import select_device
        from hmworld.model.generate import Generator, generate_clip, generate_split

        try:
            gen = Generator(cfg.checkpoint, cfg.model, device=select_device(cfg.device))
        except FileNotFoundError as exc:
            raise ConfigError(f"checkpoint={cfg.checkpoint}: {exc}") from exc
        run = generate_clip if single else generate_split
        with bars(cfg.progress) as progress:
            report = run(cfg, gen, progress=progress)
    s = report.sampler
    t = Table(title=f"generated into {report.out}", show_header=False, title_justify="left")
    t.add_row("checkpoint", f"{cfg.checkpoint} (step {gen.meta.get('global_step')})")
    t.add_row("sampler", f"Euler, {s.steps} steps, shift {s.shift}, guidance {s.guidance}, seed {s.seed}")
    t.add_row("videos", f"{len(report.written)} written, {len(report.skipped)} already present")
    if report.written:
        t.add_row("speed", f"{report.seconds / len(report.written):.2f} s per clip")
    if getattr(report, "retrieval", None) is not None:
        t.add_row("retrieval", f"{report.retrieval} (draw with `hmworld retrieval-view run={report.out} out=DIR`)")
    elif cfg.save_retrieval and not single:
        t.add_row("retrieval", "not logged: this retrieval mode reads no memory frames")
    if report.submission:
        t.add_row("submission", str(report.submission))
    elif not single:
        t.add_row("submission", "not written (only part of the split was generated: limit=)")
    console.print(t)


main = command("generate", generate)
