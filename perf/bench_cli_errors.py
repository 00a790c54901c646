"""How long each `hmworld` command takes to report a bad argument, today's code beside an earlier commit's.

    .venv/bin/python perf/bench_cli_errors.py                 # 3 runs per command, beside bd63f60 (first wave)
    .venv/bin/python perf/bench_cli_errors.py --old dceb4df   # beside another commit
    .venv/bin/python perf/bench_cli_errors.py --runs 5 --no-old

Each run is a fresh process, `hmworld <command> <bad argument>` (the cases of tests/hmworld/test_cli_errors.py),
timed from start to exit; the table gives the median wall time of the runs, today's exit status and message
(expected: 2 and one line naming the fault) and the old commit's figures. Beside each wall time, the CPU time
(user + system) of the process: it depends little on the load of the machine, so it shows what the command
costs when the wall time does not (a loaded machine). The old commit is taken from git
history into a temporary folder (`git archive`) and run with the same interpreter and installed libraries, its
model/, metrics/, benchmark/ and render_configs/ linked into its hmworld/ the way the installed package maps
them. The first run of each command also warms the file cache; the median is of all runs. Aim (issue 15): every
command under ~3 s on an idle machine. Under load the figures grow with the load average printed first.
"""
from __future__ import annotations

import argparse
import importlib.util
import os
import resource
import shutil
import statistics
import subprocess
import sys
import tarfile
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
OLD_COMMIT = "bd63f60"  # the first wave's code (the start of the session before issue 15)
MAPPED = {"model": "model", "metrics": "metrics", "benchmark": "benchmark", "render_configs": "render_configs"}


def cases():
    """BAD_ARGUMENTS of the test, loaded from its file (the test folder is not on this script's path)."""
    path = ROOT / "tests" / "hmworld" / "test_cli_errors.py"
    spec = importlib.util.spec_from_file_location("cli_error_cases", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def old_tree(commit: str, into: Path) -> Path:
    """The commit's files in `into`, with the package mapping of pyproject.toml made by links."""
    archive = into / "tree.tar"
    subprocess.run(["git", "-C", str(ROOT), "archive", "--format=tar", "-o", str(archive), commit], check=True)
    root = into / "tree"
    with tarfile.open(archive) as tar:
        tar.extractall(root, filter="data")
    for name, folder in MAPPED.items():  # commits since 6a62478 carry these links themselves
        link = root / "hmworld" / name
        if (root / folder).is_dir() and not link.exists() and not link.is_symlink():
            link.symlink_to(root / folder, target_is_directory=True)
    return root


def time_once(cmd: list[str], env: dict, cwd: Path) -> tuple[float, float, subprocess.CompletedProcess]:
    """(wall seconds, CPU seconds (user + system) of the process and its children, the finished process)."""
    r0 = resource.getrusage(resource.RUSAGE_CHILDREN)
    t0 = time.perf_counter()
    proc = subprocess.run(cmd, capture_output=True, text=True, env=env, cwd=cwd, timeout=600)
    wall = time.perf_counter() - t0
    r1 = resource.getrusage(resource.RUSAGE_CHILDREN)
    return wall, (r1.ru_utime - r0.ru_utime) + (r1.ru_stime - r0.ru_stime), proc


def verdict(proc: subprocess.CompletedProcess, expected: str) -> str:
    lines = proc.stderr.strip().splitlines()
    if proc.returncode == 2 and len(lines) == 1 and lines[0].startswith("error: ") and expected in lines[0]:
        return "ok"
    return f"exit {proc.returncode}, {len(lines)} line(s)"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--old", default=OLD_COMMIT, help="the commit to compare with")
    ap.add_argument("--old-runs", type=int, help="runs per command of the old commit (default: --runs)")
    ap.add_argument("--no-old", action="store_true", help="today's code only")
    ap.add_argument("--only", nargs="*", help="these commands only")
    args = ap.parse_args()

    mod = cases()
    names = args.only or list(mod.BAD_ARGUMENTS)
    env = {**os.environ, "COLUMNS": "200", "PYTHONPATH": ""}
    tmp = Path(tempfile.mkdtemp(prefix="hmworld-bench-cli-"))
    try:
        old_root = None if args.no_old else old_tree(args.old, tmp)
        old_commands = set()
        if old_root is not None:
            probe = subprocess.run([sys.executable, "-c", "from hmworld.cli import COMMANDS; print(' '.join(COMMANDS))"],
                                   capture_output=True, text=True, env={**env, "PYTHONPATH": str(old_root)},
                                   cwd=old_root, check=True)
            old_commands = set(probe.stdout.split())
        print(f"load average {' '.join(f'{x:.2f}' for x in os.getloadavg())}, {os.cpu_count()} CPUs; "
              f"{args.runs} runs per command ({args.old_runs or args.runs} of {args.old}); median seconds: wall, "
              "(cpu) user + system")
        head = f"{'command':<17} {'bad argument':<44} {'today':>6} {'(cpu)':>6}  {'check':<5}"
        if old_root is not None:
            head += f" {args.old:>8} {'(cpu)':>6}  {'exit':<4} {'ratio':>6}"
        print(head)
        for name in names:
            work = tmp / "work" / name
            argv, expected = mod.bad_argument_command(name, str(work))
            today, today_cpu, checks = [], [], set()
            for _ in range(args.runs):
                seconds, cpu, proc = time_once([sys.executable, "-m", "hmworld", *argv], env, ROOT)
                today.append(seconds)
                today_cpu.append(cpu)
                checks.add(verdict(proc, expected))
                shutil.rmtree(work, ignore_errors=True)
            shown = " ".join(a.replace(str(work), "T") for a in argv[1:])
            line = (f"{name:<17} {shown[:44]:<44} {statistics.median(today):6.2f} {statistics.median(today_cpu):6.2f}  "
                    f"{', '.join(sorted(checks)):<5}")
            if old_root is not None:
                if name in old_commands:
                    old, old_cpu, codes = [], [], set()
                    for _ in range(args.old_runs or args.runs):
                        seconds, cpu, proc = time_once([sys.executable, "-m", "hmworld", *argv],
                                                       {**env, "PYTHONPATH": str(old_root)}, old_root)
                        old.append(seconds)
                        old_cpu.append(cpu)
                        codes.add(str(proc.returncode))
                        shutil.rmtree(work, ignore_errors=True)
                    line += (f" {statistics.median(old):8.2f} {statistics.median(old_cpu):6.2f}  "
                             f"{','.join(sorted(codes)):<4} {statistics.median(old) / statistics.median(today):5.1f}x")
                else:
                    line += f" {'-':>8}  {'(no such command)'}"
            print(line, flush=True)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
