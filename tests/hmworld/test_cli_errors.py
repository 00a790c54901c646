"""Every `hmworld` command reports a bad argument as one line `error: ...` with exit status 2, no traceback.

BAD_ARGUMENTS is also what perf/bench_cli_errors.py times (the time is the benchmark's business, not this test's).
"""
from __future__ import annotations

import os
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor

import pytest

from hmworld.cli import COMMANDS

MISSING = "{tmp}/missing"  # a path that does not exist ({tmp}: a fresh temporary folder)

# command -> (arguments, a piece of the message that names the thing at fault)
BAD_ARGUMENTS: dict[str, tuple[list[str], str]] = {
    "render": (["out={tmp}/split", "num_clips=-1"], "num_clips=-1"),
    "caption": ([f"split={MISSING}"], f"split={MISSING}"),
    "ucv-sim": (["port=-5"], "port=-5"),
    "predict-baseline": (["name=nope", f"split={MISSING}", "out={tmp}/sub"], "name='nope'"),
    "score": ([f"submission={MISSING}", f"split={MISSING}", "results={tmp}/r.sqlite"], f"split={MISSING}"),
    "score-merge": ([f"inputs=[{MISSING}.sqlite]", "results={tmp}/r.sqlite"], "no such results store"),
    "leaderboard": ([f"results={MISSING}.sqlite", "out={tmp}/board"], f"results={MISSING}.sqlite"),
    "weights": (["model=nope"], "model/nope"),
    "import-hmworld": ([f"src={MISSING}", "out={tmp}/split"], f"src={MISSING}"),
    "cache": ([f"split={MISSING}"], f"split={MISSING}"),
    "train": ([f"split={MISSING}", "out={tmp}/run"], f"split={MISSING}"),
    "generate": ([f"checkpoint={MISSING}.ckpt", f"split={MISSING}", "out={tmp}/sub"], f"checkpoint={MISSING}.ckpt"),
    "retrieval-view": ([f"run={MISSING}", "out={tmp}/views"], f"run={MISSING}"),
    "study": (["preset=nope", "out={tmp}/study"], "preset='nope'"),
    "stats": ([f"split={MISSING}"], f"split={MISSING}"),
    "assets": (["action=nope"], "action"),
}


def bad_argument_command(name: str, tmp: str) -> tuple[list[str], str]:
    """(`hmworld NAME ...` arguments, expected piece of the message) with {tmp} filled in."""
    args, expected = BAD_ARGUMENTS[name]
    return [name, *(a.format(tmp=tmp) for a in args)], expected.format(tmp=tmp)


def test_every_command_has_a_bad_argument_case():
    assert sorted(BAD_ARGUMENTS) == sorted(COMMANDS)


def test_every_command_reports_a_bad_argument_in_one_line_with_status_2(tmp_path):
    # COLUMNS=80: a narrow terminal must not wrap the message either
    env = {**os.environ, "COLUMNS": "80"}

    def run(name):
        args, expected = bad_argument_command(name, str(tmp_path / name))
        proc = subprocess.run([sys.executable, "-m", "hmworld", *args], capture_output=True, text=True, env=env,
                              timeout=300)
        return name, args, expected, proc

    # several at once: most of each run is the interpreter starting and importing
    with ThreadPoolExecutor(max_workers=4) as pool:
        results = list(pool.map(run, sorted(BAD_ARGUMENTS)))
    problems = []
    for name, args, expected, proc in results:
        lines = proc.stderr.strip().splitlines()
        ok = (proc.returncode == 2 and len(lines) == 1 and lines[0].startswith("error: ") and expected in lines[0]
              and "Traceback" not in proc.stderr)
        if not ok:
            problems.append(f"hmworld {' '.join(args)}: exit {proc.returncode}, stderr {proc.stderr!r}")
    assert not problems, "\n".join(problems)
    # nothing was created by a refused command
    assert not any(p.exists() for p in tmp_path.glob("*/*")), sorted(map(str, tmp_path.glob("*/*")))


@pytest.mark.parametrize("override", ["num_clips=many", "seed=[unclosed"])
def test_a_bad_override_is_one_line_with_status_2(override, tmp_path):
    """Hydra's own errors (a value of the wrong type, an override that does not parse; a key not in the schema:
    tests/hmworld/test_configs.py) go through the same printer (hmworld.cli.ui.command)."""
    proc = subprocess.run([sys.executable, "-m", "hmworld", "render", f"out={tmp_path}/s", override],
                          capture_output=True, text=True, env={**os.environ, "COLUMNS": "80"}, timeout=300)
    lines = proc.stderr.strip().splitlines()
    assert proc.returncode == 2 and len(lines) == 1 and lines[0].startswith("error: "), proc.stderr
