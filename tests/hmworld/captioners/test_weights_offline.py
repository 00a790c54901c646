"""Where the captioners look for weights, and the errors offline without them (nothing is downloaded)."""
import os
import subprocess
import sys

import pytest

from hmworld.captioners import build_captioner
from hmworld.captioners.weights import CaptionerWeightsError, resolve_model


def test_missing_local_folder_is_named(tmp_path):
    missing = tmp_path / "models" / "MiniCPM-V-2_6"
    with pytest.raises(CaptionerWeightsError, match=f"model folder {missing} does not exist"):
        build_captioner({"name": "minicpm", "model": str(missing)})


def test_folder_without_config_is_named(tmp_path):
    with pytest.raises(CaptionerWeightsError, match=f"model folder {tmp_path} has no config.json"):
        resolve_model(str(tmp_path), "vlm")


def test_hub_id_offline_names_the_local_folder_and_the_cache_it_looked_in(empty_hf_home, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    with pytest.raises(CaptionerWeightsError) as err:
        build_captioner({"name": "minicpm"})  # the default: openbmb/MiniCPM-V-4_5
    msg = str(err.value)
    assert str(tmp_path / "openbmb" / "MiniCPM-V-4_5") in msg
    assert str(empty_hf_home / "hub" / "models--openbmb--MiniCPM-V-4_5") in msg
    assert "HF_HUB_OFFLINE=1" in msg and "hf download openbmb/MiniCPM-V-4_5 --local-dir DIR" in msg


def test_hub_id_is_found_in_the_standard_cache_offline(empty_hf_home, tiny_qwen):
    import shutil

    repo = empty_hf_home / "hub" / "models--someone--tiny-vlm"
    snapshot = repo / "snapshots" / ("a" * 40)
    shutil.copytree(tiny_qwen, snapshot)
    (repo / "refs").mkdir()
    (repo / "refs" / "main").write_text("a" * 40)
    source = resolve_model("someone/tiny-vlm", "vlm")
    assert source.folder == snapshot and source.model_id == "someone/tiny-vlm" and source.from_hub
    assert build_captioner({"name": "vlm", "model": "someone/tiny-vlm"}).name == "vlm:someone/tiny-vlm"
    # A snapshot folder passed as a path is named by its hub id too (not by the machine's path).
    assert resolve_model(str(snapshot), "vlm").model_id == "someone/tiny-vlm"


def test_downloads_disabled_without_offline_switches(empty_hf_home, monkeypatch):
    for name in ("HF_HUB_OFFLINE", "TRANSFORMERS_OFFLINE", "HMWORLD_OFFLINE"):
        monkeypatch.delenv(name, raising=False)
    with pytest.raises(CaptionerWeightsError, match=r"downloads are off \(allow_download=false\)"):
        resolve_model("someone/not-here", "vlm", allow_download=False)


def test_bad_settings_are_named_before_loading(tiny_qwen):
    from hmworld.captioners.vlm import CaptionerError
    from hmworld.errors import ConfigError

    with pytest.raises(CaptionerError, match="dtype='fp8'"):
        build_captioner({"name": "vlm", "model": str(tiny_qwen), "dtype": "fp8"})
    with pytest.raises(CaptionerError, match="num_frames"):
        build_captioner({"name": "vlm", "model": str(tiny_qwen), "num_frames": 0})
    with pytest.raises(CaptionerError, match="backend='fast'"):
        build_captioner({"name": "minicpm", "model": str(tiny_qwen), "backend": "fast"})
    with pytest.raises(ConfigError, match="unknown captioner 'blip'"):
        build_captioner({"name": "blip"})


def test_cli_offline_error_names_the_model_folder(rendered_split, tmp_path):
    env = {**os.environ, "HF_HOME": str(tmp_path / "hf"), "HF_HUB_OFFLINE": "1", "COLUMNS": "300"}
    proc = subprocess.run([sys.executable, "-m", "hmworld", "caption", f"split={rendered_split}", "captioner=minicpm",
                           "captioner.model=/nonexistent/weights/MiniCPM-V-2_6"],
                          capture_output=True, text=True, timeout=120, env=env)
    assert proc.returncode == 2
    assert "model folder /nonexistent/weights/MiniCPM-V-2_6 does not exist" in " ".join(proc.stderr.split())
    assert "Traceback" not in proc.stderr
    proc = subprocess.run([sys.executable, "-m", "hmworld", "caption", f"split={tmp_path}"],
                          capture_output=True, text=True, timeout=120, env=env)
    assert proc.returncode == 2 and "no split.json" in proc.stderr


def test_cli_template_on_a_finished_split_skips_everything(rendered_split):
    env = {**os.environ, "COLUMNS": "300"}
    proc = subprocess.run([sys.executable, "-m", "hmworld", "caption", f"split={rendered_split}", "progress=false"],
                          capture_output=True, text=True, timeout=120, env=env)
    assert proc.returncode == 0, proc.stderr
    assert "0 clips captioned, 3 skipped (already captioned by template), 3 in the split" in proc.stdout
    assert "caption" in subprocess.run([sys.executable, "-m", "hmworld", "--help"], capture_output=True,
                                       text=True, timeout=60).stdout
