"""What every command shares: its Hydra entry point (`command`), the error printers, rich progress bars."""
from __future__ import annotations

import os
import sys
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any, Callable, Iterator

from rich.console import Console
from rich.text import Text
from rich.progress import BarColumn, MofNCompleteColumn, Progress as RichProgress, TaskID, TextColumn
from rich.progress import TimeElapsedColumn, TimeRemainingColumn

from hmworld.errors import HMWorldError
from hmworld.progress import Counter, Progress

if TYPE_CHECKING:
    from omegaconf import DictConfig

console = Console(stderr=False)
err_console = Console(stderr=True)


def started_progress(enabled: bool, label: str = "{task.description}", rate: bool = False) -> RichProgress:
    """The one progress-bar layout of every command: label, bar, done/total, [rate], elapsed, ETA; started."""
    columns = [TextColumn(f"[bold]{label}"), BarColumn(), MofNCompleteColumn()]
    if rate:
        columns.append(TextColumn("{task.fields[rate]}"))
    progress = RichProgress(*columns, TimeElapsedColumn(), TimeRemainingColumn(), console=console,
                            disable=not enabled)
    progress.start()
    return progress


class Bars(Progress):
    """The CLI's hmworld.progress.Progress: each counter a job starts is a rich bar in the one layout of every
    command (name, bar, done/total, rate, elapsed, ETA); a closed counter's bar is hidden. `enabled=False`
    (`progress=false`) draws nothing. Closed by the command when it is done (see `bars`): the last frame lists
    every counter of the run."""

    def __init__(self, enabled: bool = True):
        self.progress = started_progress(enabled, rate=True)

    def start(self, name: str, total: int | None = None) -> Counter:
        return _Bar(self.progress, self.progress.add_task(name, total=total, rate=""))

    def close(self) -> None:
        for task in self.progress.tasks:  # the last frame shows every counter of the run, closed ones too
            self.progress.update(task.id, visible=True)
        self.progress.stop()


class _Bar(Counter):
    def __init__(self, progress: RichProgress, task: TaskID):
        self.progress, self.task = progress, task

    def advance(self, n: int = 1) -> None:
        self.progress.advance(self.task, n)
        speed = next(t.speed for t in self.progress.tasks if t.id == self.task)
        if speed:
            self.progress.update(self.task, rate=f"{speed:.1f}/s" if speed >= 1 else f"{1 / speed:.2f} s each")

    def close(self) -> None:
        self.progress.update(self.task, visible=False)


@contextmanager
def bars(enabled: bool) -> Iterator[Bars]:
    """`with bars(cfg.progress) as progress: run(..., progress=progress)`: the bars stop however the run ends."""
    shown = Bars(enabled)
    try:
        yield shown
    finally:
        shown.close()


def in_multirun_job() -> bool:
    """True inside one job of a Hydra multirun (`--multirun`, any launcher, submitit's included)."""
    try:
        from hydra.core.hydra_config import HydraConfig
        from hydra.types import RunMode
    except ImportError:  # pragma: no cover - hydra is a base dependency
        return False
    return HydraConfig.initialized() and HydraConfig.get().mode == RunMode.MULTIRUN


@contextmanager
def user_errors() -> Iterator[None]:
    """Print toolkit errors (HMWorldError) without a traceback and exit with status 2: `error: <message>` on one
    line; a message that lists problems (one per line, as scoring's and merging's do) keeps its lines.

    The text is shown as plain text, never markup (messages quote settings like "[min, max]"), and every line
    is made plain first: messages quote submissions, stores and files written by strangers (hmworld.benchmark.text).

    Inside a multirun job the error is raised instead: Hydra hands it back to the launching process (submitit
    pickles it across), whose own user_errors (in `command`) prints it the same way. An exit here would leave the
    launcher only a job that "produced no output", and a traceback."""
    try:
        yield
    except HMWorldError as exc:
        if in_multirun_job():
            raise
        from hmworld.benchmark.text import plain

        first, *rest = str(exc).strip().splitlines() or [""]
        lines = [" ".join(plain(first).split()), *(plain(line).rstrip() for line in rest)]
        err_console.print(Text.assemble(("error: ", "bold red"), "\n".join(lines)), highlight=False, soft_wrap=True)
        sys.exit(2)


def _first_line(exc: BaseException) -> str:
    """The message without OmegaConf's detail lines (full_key, object_type, ...) and Hydra's `+key` hint, which
    does not apply to typed configs; what is left is joined into one line."""
    detail = ("full_key:", "object_type=", "reference_type=", "To append to your config")
    lines = [ln.strip() for ln in str(exc).strip().splitlines() if ln.strip() and not ln.strip().startswith(detail)]
    return " ".join(lines) if lines else type(exc).__name__


@contextmanager
def config_errors() -> Iterator[None]:
    """Around a command's Hydra `main()`: a bad override or preset (a key not in the command's schema, a value of
    the wrong type, a missing required key) is printed as one line and exits with status 2, like user_errors.

    Hydra would print these itself (several lines, status 1); HYDRA_FULL_ERROR makes it raise them to us instead.
    Any other exception keeps its traceback."""
    from hydra.errors import HydraException
    from omegaconf.errors import OmegaConfBaseException

    old = os.environ.get("HYDRA_FULL_ERROR")
    os.environ["HYDRA_FULL_ERROR"] = "1"
    try:
        yield
    except (HydraException, OmegaConfBaseException) as exc:
        cause = exc.__cause__
        message = _first_line(exc)
        if isinstance(cause, OmegaConfBaseException) and _first_line(cause) not in message:
            message = f"{message.rstrip('.')}: {_first_line(cause)}"
        err_console.print(Text.assemble(("error: ", "bold red"), " ".join(message.split())), highlight=False,
                          soft_wrap=True)
        sys.exit(2)
    finally:
        if old is None:
            os.environ.pop("HYDRA_FULL_ERROR", None)
        else:
            os.environ["HYDRA_FULL_ERROR"] = old


def command(config_name: str, task: Callable[[DictConfig], Any]) -> Callable[[], Any]:
    """The `main()` of a Hydra command: `main = command("render", render)` in hmworld/cli/render.py.

    One place for what every command shares: its config (render_configs/<config_name>.yaml, a preset of its typed
    schema), Hydra's version pinning, and the error printers: config_errors (a bad override is one line, exit status
    2) and user_errors (a multirun job's error, raised again by Hydra once the launcher has collected the jobs, is
    printed as in a single run). `task` itself is handed to Hydra undecorated, so it stays importable by name and
    multirun launchers (joblib, submitit) pickle it by reference."""
    import hydra

    hydra_main = hydra.main(version_base="1.3", config_path="pkg://hmworld.render_configs",
                            config_name=config_name)(task)

    def main() -> Any:
        with config_errors(), user_errors():
            return hydra_main()

    return main
