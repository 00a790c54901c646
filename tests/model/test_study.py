"""`hmworld study`: the micro preset end to end, killed (SIGKILL) mid-way and resumed without redoing anything, a
finished study rerun doing nothing, the presets composing, and bad input exiting with status 2.

One micro study is run per module (about 15-30 s on a loaded 2-core machine, twice: killed, then resumed).
"""
from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

HMWORLD = [sys.executable, "-m", "hmworld"]
ENV = {**os.environ, "COLUMNS": "200", "HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1"}
KILL_AFTER = "train-dynamic-s0"     # the first training run: killed right after it is recorded done


def study(*args: str, timeout: float = 240) -> subprocess.CompletedProcess:
    return subprocess.run([*HMWORLD, "study", *args], capture_output=True, text=True, timeout=timeout, env=ENV)


def units(out: Path) -> dict:
    return json.loads((out / "study.json").read_text())["units"]


def mtimes(root: Path) -> dict[str, int]:
    return {str(p.relative_to(root)): p.stat().st_mtime_ns for p in sorted(root.rglob("*")) if p.is_file()}


@pytest.fixture(scope="module")
def micro(tmp_path_factory) -> dict:
    """A micro study killed with SIGKILL after its first training run, then rerun to the end."""
    out = tmp_path_factory.mktemp("study") / "micro"
    args = ["preset=micro", f"out={out}", "progress=false"]
    proc = subprocess.Popen([*HMWORLD, "study", *args], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=ENV)
    deadline = time.monotonic() + 240
    try:
        while time.monotonic() < deadline and proc.poll() is None:
            try:
                if units(out).get(KILL_AFTER, {}).get("status") == "done":
                    break
            except (FileNotFoundError, ValueError):
                pass
            time.sleep(0.02)
        assert proc.poll() is None, f"the study ended (status {proc.returncode}) before {KILL_AFTER} was done"
        proc.send_signal(signal.SIGKILL)        # our own child, by its handle
    finally:
        if proc.poll() is None:
            proc.kill()
        proc.wait()
    killed_units = units(out)
    ckpt = out / "runs" / "dynamic-s0" / "checkpoints" / "last.ckpt"
    before = {"ckpt": ckpt.stat().st_mtime_ns, "splits": mtimes(out / "splits" / "train" / "clips"),
              "runs": mtimes(out / "runs" / "dynamic-s0" / "checkpoints")}
    t0 = time.perf_counter()
    resumed = study(*args)
    assert resumed.returncode == 0, resumed.stdout + resumed.stderr
    return {"out": out, "args": args, "killed": killed_units, "before": before, "resumed": resumed,
            "resume_seconds": time.perf_counter() - t0}


def test_kill_then_resume_does_nothing_twice(micro):
    out, killed, before = micro["out"], micro["killed"], micro["before"]
    assert killed[KILL_AFTER]["status"] == "done"
    assert "report" not in killed or killed["report"].get("status") != "done"     # it really stopped mid-way
    after = units(out)
    # the units finished before the kill were not run again: same records, one attempt, skipped by the rerun
    for name, u in killed.items():
        if u.get("status") == "done":
            assert after[name]["finished"] == u["finished"] and after[name]["attempts"] == 1, name
            assert after[name]["skipped_runs"] == 1, name
    assert (out / "runs" / "dynamic-s0" / "checkpoints" / "last.ckpt").stat().st_mtime_ns == before["ckpt"]
    assert mtimes(out / "runs" / "dynamic-s0" / "checkpoints") == before["runs"]
    assert mtimes(out / "splits" / "train" / "clips") == before["splits"]
    # everything is done now, each unit once
    assert all(u["status"] == "done" for u in after.values()), after
    want = {"render-train", "render-test", "cache-train", "cache-test", "train-dynamic-s0", "train-local-s0",
            "generate-dynamic-s0", "generate-local-s0", "floor-repeat-last", "floor-mean-context",
            "floor-nearest-view", "floor-ceiling", "score-dynamic-s0", "score-local-s0", "score-floor-repeat-last",
            "score-floor-mean-context", "score-floor-nearest-view", "score-floor-ceiling", "views-dynamic-s0",
            "leaderboard", "report"}
    assert set(after) == want
    assert all(isinstance(u["seconds"], float) for u in after.values())
    record = json.loads((out / "study.json").read_text())
    assert record["config"]["preset"] == "micro" and record["config"]["modes"] == ["dynamic", "local"]
    assert len(record["runs"]) == 2 and record["runs"][-1]["finished"]


def test_report_holds_every_mode_and_floor(micro):
    out = micro["out"]
    md = (out / "report" / "report.md").read_text()
    rows = {line.split("|")[1].strip(): line for line in md.splitlines() if line.startswith("| ")}
    for label in ("dynamic", "local", "floor: repeat-last", "floor: mean-context", "floor: nearest-view",
                  "floor: ceiling"):
        assert label in rows, md
    header = next(line for line in md.splitlines() if line.startswith("| model"))
    assert "PSNR" in header and "Subject PSNR" in header
    # one seed: no spread, and the report says so instead of claiming a separation
    assert "One seed per mode" in md
    page = (out / "report" / "report.html").read_text()
    # self-contained: every image inline, nothing fetched from elsewhere
    assert not re.search(r"""(src|href)\s*=\s*['"](?!data:)""", page), "the page references an outside file"
    assert "<link" not in page and "<script" not in page
    assert page.count("src='data:image/png;base64,") >= 3           # gap plot, heat map, frames
    assert "floor: ceiling" in page and "dynamic" in page
    assert (out / "leaderboard" / "index.html").is_file() and (out / "views" / "dynamic-s0" / "index.html").is_file()
    assert not (out / "views" / "local-s0").exists()                # local reads no memory: nothing logged
    for sub in ("dynamic-s0", "local-s0", "floor-repeat-last", "floor-mean-context", "floor-nearest-view",
                "floor-ceiling"):
        assert (out / "subs" / sub / "submission.yaml").is_file(), sub


def test_finished_study_rerun_runs_nothing(micro):
    out = micro["out"]
    before = mtimes(out / "report") | {"lb": (out / "leaderboard" / "index.html").stat().st_mtime_ns}
    again = study(*micro["args"])
    assert again.returncode == 0, again.stderr
    assert re.search(r"0 units ran, 21 were done already", again.stdout), again.stdout
    assert mtimes(out / "report") | {"lb": (out / "leaderboard" / "index.html").stat().st_mtime_ns} == before


def test_presets_compose_and_pass_the_checks(tmp_path):
    from hydra import compose, initialize_config_module

    from hmworld.study import check_config

    with initialize_config_module(config_module="hmworld.render_configs", version_base="1.3"):
        for preset in ("micro", "cpu", "paper"):
            cfg = compose(config_name="study", overrides=[f"study_preset={preset}", f"out={tmp_path / preset}"])
            assert cfg.preset == preset
            check_config(cfg)
        cpu = compose(config_name="study", overrides=["study_preset=cpu", "out=x"])
        paper = compose(config_name="study", overrides=["study_preset=paper", "out=x"])
    assert list(cpu.modes) == ["dynamic", "fov", "full", "local"] and len(cpu.seeds) >= 2
    assert (paper.render.video.width, paper.render.video.height, paper.render.video.context_frames,
            paper.render.video.target_frames) == (832, 480, 77, 77)
    assert paper.model.name.startswith("hydra-wan") and paper.model.transformer.config.top_k == 10
    assert paper.model.transformer.config.window_size == 5


@pytest.mark.parametrize("args, message", [
    (["preset=nope"], "preset='nope': unknown"),
    (["preset=micro", "modes=[dynamic,bogus]"], "unknown retrieval mode"),
    (["preset=micro", "seeds=[]"], "seeds=[]"),
    (["preset=micro", "floors=[oracle]"], "unknown floor"),
])
def test_bad_input_exits_2(tmp_path, args, message):
    r = study(*args, f"out={tmp_path / 'o'}", timeout=120)
    assert r.returncode == 2, r.stdout + r.stderr
    assert message in " ".join(r.stderr.split()) and "Traceback" not in r.stderr
    assert not (tmp_path / "o").exists()


def test_out_naming_a_file_or_another_study_exits_2(tmp_path, micro):
    f = tmp_path / "afile"
    f.write_text("x")
    r = study("preset=micro", f"out={f}", timeout=120)
    assert r.returncode == 2 and "exists and is not a folder" in r.stderr and f.read_text() == "x"
    out = micro["out"]
    before = (out / "study.json").read_text()
    r = study("preset=micro", f"out={out}", "train.trainer.max_steps=5", timeout=120)
    assert r.returncode == 2 and "holds another study" in r.stderr and "train.trainer.max_steps" in r.stderr
    assert (out / "study.json").read_text() == before
    other = tmp_path / "full"
    other.mkdir()
    (other / "something").write_text("y")
    r = study("preset=micro", f"out={other}", timeout=120)
    assert r.returncode == 2 and "holds no study.json" in " ".join(r.stderr.split())
