"""Terminal output shared by commands: rich progress bars and end-of-run summaries."""
from __future__ import annotations

import sys
from contextlib import contextmanager
from typing import Iterator

from rich.console import Console
from rich.progress import (BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn,
                           TimeRemainingColumn)

from hmworld.errors import HMWorldError

console = Console(stderr=False)
err_console = Console(stderr=True)


class ClipProgress:
    """A two-line bar: clips written, and frames rendered (which also drives the ETA between clips)."""

    def __init__(self, total_clips: int, frames_per_clip: int, label: str = "rendering", enabled: bool = True):
        self.progress = Progress(
            TextColumn("[bold]{task.description}"), BarColumn(), MofNCompleteColumn(), TextColumn("{task.fields[rate]}"),
            TimeElapsedColumn(), TimeRemainingColumn(), console=console, disable=not enabled,
        )
        self.progress.start()
        self.clips = self.progress.add_task(f"{label} clips", total=total_clips, rate="")
        self.frames = self.progress.add_task("frames", total=None, rate="")

    def frame(self) -> None:
        self.progress.advance(self.frames)
        task = self.progress.tasks[self.frames]
        if task.speed:
            self.progress.update(self.frames, rate=f"{task.speed:.1f} fps")

    def clip(self) -> None:
        self.progress.advance(self.clips)

    def close(self) -> None:
        self.progress.stop()


@contextmanager
def user_errors() -> Iterator[None]:
    """Print toolkit errors as one clear message (no traceback) and exit with status 2."""
    try:
        yield
    except HMWorldError as exc:
        err_console.print(f"[bold red]error:[/] {exc}", highlight=False)
        sys.exit(2)
