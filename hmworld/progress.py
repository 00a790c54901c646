"""One progress protocol for every long job (render, cache, caption, generate, import, stats, score, the study).

Library code reports named counters and draws nothing; a command hands in something that draws them (the CLI's
rich bars, hmworld.cli.ui.Bars). The default, SILENT, does nothing, so library code calls it unconditionally:

    def run(..., progress: Progress = SILENT):
        with progress.start("clips", total=len(todo)) as clips, progress.start("frames") as frames:
            for clip in todo:
                render(clip, on_frame=frames.advance)   # a per-item callback is a counter's `advance`
                clips.advance()

`start(name, total)` opens a counter (total None: not known); `advance(n=1)` counts; leaving the `with` (or
`close()`) ends the counter: a display may drop it. Closing the Progress itself is the business of whoever made
it (the command, when it is done).
"""
from __future__ import annotations


class Counter:
    """One count of a job (clips written, frames rendered ...). This base class counts nothing (SILENT's)."""

    def advance(self, n: int = 1) -> None:
        pass

    def close(self) -> None:
        pass

    def __enter__(self) -> "Counter":
        return self

    def __exit__(self, *exc) -> None:
        self.close()


class Progress:
    """Where a job reports its counters. This base class shows nothing: SILENT, the default of every job."""

    def start(self, name: str, total: int | None = None) -> Counter:
        return NO_COUNT

    def close(self) -> None:
        pass


NO_COUNT = Counter()  # a counter that counts nothing: the default of per-item callbacks (NO_COUNT.advance)
SILENT = Progress()
