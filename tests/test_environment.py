"""The suite's own environment (tests/environment.py): the offline policy is in force, temporary files land in the
session folder, and a run that leaves one behind fails, naming it."""
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

from tests import environment
from tests.testlib import ROOT


def test_offline_policy_and_caches_point_into_the_session_folder():
    session = environment.session_tmp().parent
    for name, value in environment.OFFLINE.items():
        assert os.environ[name] == value, name
    for name in environment.CACHES:
        assert Path(os.environ[name]).is_relative_to(session / "cache"), name
    for name in environment.DROPPED:
        assert name not in os.environ, name
    assert Path(tempfile.gettempdir()) == environment.session_tmp() == Path(os.environ["TMPDIR"])


def test_tmp_path_lies_in_the_session_folder_outside_the_checked_tmpdir(tmp_path):
    session = environment.session_tmp().parent
    assert tmp_path.is_relative_to(session) and not tmp_path.is_relative_to(environment.session_tmp())


LEAKY = '''
import tempfile

def test_leaks_a_folder():
    tempfile.mkdtemp(prefix="leaked-by-a-test-")

def test_cleans_up(tmp_path):
    with tempfile.TemporaryDirectory(prefix="removed-"):
        pass
'''
TIDY = '''
import tempfile

def test_cleans_up():
    with tempfile.TemporaryDirectory(prefix="removed-"):
        pass
'''


def _run_suite(folder: Path, body: str) -> subprocess.CompletedProcess:
    """pytest on a one-file suite whose conftest uses this environment, exactly as tests/conftest.py does."""
    folder.mkdir()
    (folder / "conftest.py").write_text("pytest_plugins = ['tests.environment']\n")
    (folder / "test_it.py").write_text(body)
    # PYTEST_DISABLE_PLUGIN_AUTOLOAD: the installed plugins (hydra's, anyio's, timeout) only slow the start here.
    env = {**os.environ, "PYTHONPATH": str(ROOT), "PYTEST_DISABLE_PLUGIN_AUTOLOAD": "1"}
    env.pop(environment.KEEP_ENV, None)
    return subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "--rootdir", str(folder),
                           "-c", os.devnull, str(folder)], capture_output=True, text=True, timeout=120, env=env,
                          cwd=folder)


def test_a_leaked_temporary_folder_fails_the_run_and_is_named(tmp_path):
    before = set(os.listdir(environment.session_tmp()))
    proc = _run_suite(tmp_path / "leaky", LEAKY)
    assert proc.returncode == 1, proc.stdout + proc.stderr
    assert "2 passed" in proc.stdout and "LEAK" in proc.stdout and "leaked-by-a-test-" in proc.stdout
    assert "removed-" not in proc.stdout.split("LEAK", 1)[1]  # only what was left behind is named
    # The child's own session folder (made in our TMPDIR) is gone with everything in it.
    assert set(os.listdir(environment.session_tmp())) == before


def test_a_tidy_run_passes_and_removes_the_folder_of_a_killed_run(tmp_path):
    # The session folders of two earlier runs in our TMPDIR (where the child makes its own): one whose process is
    # gone (killed before it could clean up), one without a pid file (kept on purpose).
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    killed = environment.session_tmp() / (environment.PREFIX + "killed")
    kept = environment.session_tmp() / (environment.PREFIX + "kept")
    for folder in (killed, kept):
        (folder / "tmp").mkdir(parents=True)
    (killed / "pid").write_text(str(dead.pid))
    try:
        proc = _run_suite(tmp_path / "tidy", TIDY)
        assert proc.returncode == 0 and "LEAK" not in proc.stdout, proc.stdout + proc.stderr
        assert not killed.exists() and kept.is_dir()
    finally:
        shutil.rmtree(killed, ignore_errors=True)
        shutil.rmtree(kept, ignore_errors=True)


PARALLEL = '''
import os
import tempfile
from pathlib import Path

import pytest
from tests.environment import session_tmp, shared_folder


def build(folder):
    with open(os.environ["BUILDS_LOG"], "a") as log:  # one line per build, whichever worker builds
        log.write(os.environ["PYTEST_XDIST_WORKER"] + "\\n")
    (folder / "data").write_text("built")
    return folder / "data"


@pytest.mark.parametrize("i", range(4))
def test_shared_and_own_tmpdir(i):
    assert shared_folder("thing", build).read_text() == "built"
    assert session_tmp().name == "tmp-" + os.environ["PYTEST_XDIST_WORKER"] == Path(tempfile.gettempdir()).name
    if i == 3:
        tempfile.mkdtemp(prefix="leaked-in-a-worker-")
'''


def test_parallel_workers_share_one_session_build_shared_folders_once_and_leaks_are_named(tmp_path):
    """pytest -n 2: both workers join the controller's session folder, each with a TMPDIR of its own; a shared
    fixture folder is built once; the controller names a worker's leftover and removes the whole session."""
    folder = tmp_path / "parallel"
    folder.mkdir()
    (folder / "test_par1.py").write_text(PARALLEL)
    (folder / "test_par2.py").write_text(PARALLEL.replace('i == 3', 'False'))
    (folder / "conftest.py").write_text("pytest_plugins = ['tests.environment']\n")
    log = tmp_path / "builds.log"
    env = {**os.environ, "PYTHONPATH": str(ROOT), "PYTEST_DISABLE_PLUGIN_AUTOLOAD": "1", "BUILDS_LOG": str(log)}
    env.pop(environment.KEEP_ENV, None)
    before = set(os.listdir(environment.session_tmp()))
    proc = subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "-p", "xdist", "-n", "2",
                           "--dist", "loadfile", "--rootdir", str(folder), "-c", os.devnull, str(folder)],
                          capture_output=True, text=True, timeout=300, env=env, cwd=folder)
    out = proc.stdout + proc.stderr
    assert proc.returncode == 1 and "8 passed" in out, out
    assert len(log.read_text().split()) == 1, log.read_text()  # built once, by one of the two workers
    assert "LEAK" in out and "leaked-in-a-worker-" in out and "/leaked-in-a-worker-" in out  # tmp-gwN/leaked-...
    assert set(os.listdir(environment.session_tmp())) == before  # the child's session folder is gone
