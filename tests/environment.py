"""The suite's environment: one offline policy and one session folder, set before any test imports a library.

tests/conftest.py registers this module as a plugin, so pytest imports it right after the root conftest and
before every area conftest and test module; importing it applies the policy (`isolate()`, at the bottom).

- Offline: nothing downloads, nothing is pip-installed, and nothing the machine happens to hold in its own
  caches is found by accident: every library cache and settings folder points into the session folder, empty.
- Temporary files: TMPDIR, Python's `tempfile` and pytest's tmp_path base all point into the session folder too,
  so child processes (`hmworld ...` run by the tests) land there as well. The folder is removed when pytest
  exits; HMWORLD_KEEP_TEST_TMP=1 keeps it (its path is printed) for looking at a failure. A run that was killed
  cannot remove its own: the next run removes it (its pid file names a process that is gone).
- Leak check: once every fixture is torn down, anything still in the session's TMPDIR was left behind by a test
  or by the code it ran (a `tempfile.mkdtemp` nobody removes, a child's temporary file). The run then fails and
  names each leftover: it would otherwise pile up in /tmp on every run of the suite.
- Parallel runs (`pytest -n 2`, pytest-xdist): the controller makes the one session folder; each worker joins it
  (same caches, same shared fixtures: `shared_folder`) with a TMPDIR of its own, so one worker's temporary files
  never show up in another's checks. The controller alone checks for leaks, in every TMPDIR, once all are done.
"""
from __future__ import annotations

import os
import shutil
import tempfile
from pathlib import Path

import pytest

# Switches read by huggingface_hub / transformers / datasets, by hmworld's weight resolvers and by ultralytics.
OFFLINE = {
    "HF_HUB_OFFLINE": "1",
    "TRANSFORMERS_OFFLINE": "1",
    "HF_DATASETS_OFFLINE": "1",
    "HMWORLD_OFFLINE": "1",
    "YOLO_OFFLINE": "1",
    "YOLO_AUTOINSTALL": "0",  # ultralytics would otherwise pip-install missing requirements
}
# Library caches and settings, each an empty folder under <session>/cache (relative paths below).
CACHES = {
    "HF_HOME": "hf",
    "HF_MODULES_CACHE": "hf/modules",  # remote code of a saved checkpoint is copied here on load
    "TORCH_HOME": "torch",
    "TORCHINDUCTOR_CACHE_DIR": "torchinductor",  # else <TMPDIR>/torchinductor_<user>, made on importing torch._dynamo
    "YOLO_CONFIG_DIR": "ultralytics",
}
# Variables that would point a library back at the machine's own caches or weights.
DROPPED = ("HF_HUB_CACHE", "HUGGINGFACE_HUB_CACHE", "TRANSFORMERS_CACHE", "HF_DATASETS_CACHE", "HMWORLD_WEIGHTS_DIR")

KEEP_ENV = "HMWORLD_KEEP_TEST_TMP"
PREFIX = "hmworld-tests-"
SESSION_ENV = "HMWORLD_TEST_SESSION"  # the controller's session folder, for its xdist workers to join
THREADS_ENV = "HMWORLD_TEST_DEFAULT_THREADS"  # set when the controller chose OMP_NUM_THREADS (the caller did not)
_session: Path | None = None
_owner = False  # this process made the session folder: it checks it for leaks and removes it


def _worker() -> str | None:
    """This process's xdist worker id (gw0, gw1, ...) when it is a worker of the run that made the session."""
    worker = os.environ.get("PYTEST_XDIST_WORKER")
    return worker if worker and os.environ.get(SESSION_ENV) else None


def isolate() -> Path:
    """Apply the policy to this process (and so to every child it starts); return the session folder."""
    global _session, _owner
    if _session is not None:
        return _session
    worker = _worker()
    if worker:  # the controller applied the policy already (inherited): join its folder with a TMPDIR of our own
        _session = Path(os.environ.pop(SESSION_ENV))  # popped: a pytest this worker starts makes its own session
        _use_tmpdir(_session / f"tmp-{worker}")
        if os.environ.pop(THREADS_ENV, None):  # the controller chose the thread count: share the cores out
            workers = int(os.environ.get("PYTEST_XDIST_WORKER_COUNT", "1"))
            os.environ["OMP_NUM_THREADS"] = str(max(1, (os.cpu_count() or 1) // workers))
        return _session
    _remove_stale_sessions(Path(tempfile.gettempdir()))
    _session = Path(tempfile.mkdtemp(prefix=PREFIX))
    _owner = True
    (_session / "pid").write_text(str(os.getpid()))
    os.environ[SESSION_ENV] = str(_session)
    os.environ.update(OFFLINE)
    for name, rel in CACHES.items():
        (_session / "cache" / rel).mkdir(parents=True, exist_ok=True)
        os.environ[name] = str(_session / "cache" / rel)
    for name in DROPPED:
        os.environ.pop(name, None)
    # Libraries use a few threads each unless told otherwise; a caller's own setting wins. Workers of a parallel
    # run share the cores out instead (more threads than cores makes torch's OpenMP spin, many times slower).
    if "OMP_NUM_THREADS" not in os.environ:
        os.environ["OMP_NUM_THREADS"] = "2"
        os.environ[THREADS_ENV] = "1"
    # ultralytics sets NUMEXPR_MAX_THREADS (1 on 2 cores) in os.environ when imported; every command started after
    # that would inherit it beside OMP_NUM_THREADS=2 and numexpr (under pandas) would print an error line on import
    os.environ.setdefault("NUMEXPR_NUM_THREADS", "1")
    _use_tmpdir(_session / "tmp")
    # pytest's tmp_path base (pytest-of-<user>/pytest-N) outside tmp/, so that only leaks remain in tmp/.
    os.environ["PYTEST_DEBUG_TEMPROOT"] = str(_session)
    return _session


def _use_tmpdir(tmp: Path) -> None:
    tmp.mkdir()
    os.environ["TMPDIR"] = str(tmp)
    tempfile.tempdir = str(tmp)  # tempfile has already cached the old TMPDIR (pytest's capture used it)


def _remove_stale_sessions(parent: Path) -> None:
    """Session folders of earlier runs that were killed before they could remove their own (their pid is gone).
    A folder without a pid file is skipped: one being set up, or one kept on purpose."""
    for folder in parent.glob(PREFIX + "*"):
        try:
            pid = int((folder / "pid").read_text())
            os.kill(pid, 0)
        except ProcessLookupError:
            shutil.rmtree(folder, ignore_errors=True)
        except (OSError, ValueError):
            continue


def session_tmp() -> Path:
    """This process's TMPDIR in the session folder (checked for leftovers at the end)."""
    assert _session is not None, "tests.environment.isolate() has not run"
    return Path(os.environ["TMPDIR"])


def shared_folder(name: str, build) -> Path:
    """A session fixture's folder, built once per run however many xdist workers ask for it: `build(folder)` fills
    the empty `folder` and returns the path the fixture gives (the folder or something in it). The first worker
    builds it under a lock; the others wait and reuse it. A build that raised is retried by the next to ask."""
    import fcntl
    import json

    assert _session is not None, "tests.environment.isolate() has not run"
    root = _session / "shared"
    root.mkdir(exist_ok=True)
    record = root / f"{name}.json"
    with open(root / f"{name}.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)  # released when the file closes, also if this process dies
        if record.exists():
            return Path(json.loads(record.read_text()))
        folder = root / name
        shutil.rmtree(folder, ignore_errors=True)
        folder.mkdir()
        result = Path(build(folder))
        record.write_text(json.dumps(str(result)))
        return result


def leftovers(folder: Path) -> list[str]:
    """Every entry of `folder`, sorted (each one a leak once the session's fixtures are gone)."""
    return sorted(p.name for p in folder.iterdir()) if folder.is_dir() else []


@pytest.hookimpl(trylast=True)  # after the runner's own sessionfinish, which tears the session fixtures down
def pytest_sessionfinish(session: pytest.Session) -> None:
    if not _owner:  # an xdist worker: the controller checks every worker's TMPDIR once all have finished
        return
    left = [f"{tmp.name}/{name}" if tmp.name != "tmp" else name
            for tmp in sorted(_session.glob("tmp*")) for name in leftovers(tmp)]
    if not left:
        return
    message = (f"LEAK: the tests left {len(left)} temporary file(s) or folder(s) in the session's TMPDIR "
               f"{session_tmp()} (removed now): {', '.join(left)}")
    reporter = session.config.pluginmanager.get_plugin("terminalreporter")
    if reporter is not None:
        reporter.write_line("")
        reporter.write_line(message, red=True, bold=True)
    else:
        print(message)
    if session.exitstatus == pytest.ExitCode.OK:
        session.exitstatus = pytest.ExitCode.TESTS_FAILED


def pytest_unconfigure(config: pytest.Config) -> None:
    if not _owner or not _session.exists():
        return
    if os.environ.get(KEEP_ENV, "") not in ("", "0"):
        (_session / "pid").unlink(missing_ok=True)  # so that no later run removes it as stale
        print(f"\n{KEEP_ENV} is set: the session folder {_session} is kept")
        return
    shutil.rmtree(_session, ignore_errors=True)


isolate()
