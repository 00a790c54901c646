"""One weights resolver and one offline policy (hmworld.weights) for the metrics, the captioners and the model's
components, and `hmworld weights` reporting all of them. Real files in temporary folders; nothing is downloaded
(every lookup that could reach the network runs with downloads refused)."""
from pathlib import Path

import pytest

from hmworld.weights import (OFFLINE_SWITCHES, WeightsNotFoundError, download_refusal, folder_status,
                             locate_folder, resolve_folder)


@pytest.fixture
def env(tmp_path, monkeypatch):
    """No offline switch set, every cache in the temporary folder, the working folder too."""
    for name in OFFLINE_SWITCHES:
        monkeypatch.delenv(name, raising=False)
    for name in ("HF_HUB_CACHE", "HMWORLD_WEIGHTS_DIR"):
        monkeypatch.delenv(name, raising=False)
    for name, sub in (("HF_HOME", "hf"), ("TORCH_HOME", "torch"), ("XDG_CACHE_HOME", "xdg"),
                      ("VBENCH_CACHE_DIR", "vbench"), ("HOME", "home")):
        (tmp_path / sub).mkdir()
        monkeypatch.setenv(name, str(tmp_path / sub))
    (tmp_path / "cwd").mkdir()
    monkeypatch.chdir(tmp_path / "cwd")
    return tmp_path


def _snapshot(hf_home, repo: str, files: dict) -> Path:
    """A repository as huggingface_hub's cache lays it out (refs/main -> snapshots/<commit>/...)."""
    commit = "c" * 40
    root = hf_home / "hub" / f"models--{repo.replace('/', '--')}"
    for rel, text in files.items():
        (root / "snapshots" / commit / rel).parent.mkdir(parents=True, exist_ok=True)
        (root / "snapshots" / commit / rel).write_text(text)
    (root / "refs").mkdir(parents=True, exist_ok=True)
    (root / "refs" / "main").write_text(commit)
    return root / "snapshots" / commit


def test_one_offline_policy(env, monkeypatch):
    assert download_refusal() is None and download_refusal(True) is None
    assert download_refusal(False) == "downloads are off (allow_download=false)"
    for switch in ("HF_HUB_OFFLINE", "TRANSFORMERS_OFFLINE", "YOLO_OFFLINE"):
        monkeypatch.setenv(switch, "1")
        assert download_refusal() == f"downloads are off ({switch}=1)"   # any library's switch: every download
        assert download_refusal(True) is None                              # an explicit setting wins over it
        monkeypatch.delenv(switch)
    monkeypatch.setenv("HMWORLD_OFFLINE", "1")
    assert download_refusal(True) == "downloads are off (HMWORLD_OFFLINE=1)"  # ... but never over ours


def _wan_model(root):
    from hydra import compose, initialize_config_module

    with initialize_config_module(config_module="hmworld.render_configs", version_base="1.3"):
        return compose(config_name="train", overrides=["split=x", "out=y", "model=wan_1_3b",
                                                       f"model.root={root}"]).model


def test_metrics_captioners_and_model_refuse_alike(env, monkeypatch):
    """One library's switch (here ultralytics') keeps the captioner's and the model's hub lookups offline too;
    each error names its setting, every place looked in, and the fix."""
    from hmworld.captioners.weights import CaptionerWeightsError, resolve_model
    from hmworld.metrics import weights as W
    from hmworld.model.components import build_vae

    monkeypatch.setenv("YOLO_OFFLINE", "1")
    with pytest.raises(WeightsNotFoundError) as err:
        W.resolve(W.SPECS["dino_vitb16"], env / "empty")
    assert "downloads are off (YOLO_OFFLINE=1)" in str(err.value) and str(env / "empty") in str(err.value)
    with pytest.raises(CaptionerWeightsError) as err:
        resolve_model("someone/tiny-vlm", "vlm")
    msg = str(err.value)
    assert "captioner.model=someone/tiny-vlm" in msg and str(env / "cwd" / "someone" / "tiny-vlm") in msg
    assert str(env / "hf" / "hub" / "models--someone--tiny-vlm") in msg and "YOLO_OFFLINE=1" in msg
    assert "hf download someone/tiny-vlm --local-dir DIR" in msg and "unset YOLO_OFFLINE" in msg
    with pytest.raises(WeightsNotFoundError) as err:
        build_vae(_wan_model("someone/wan"))
    msg = str(err.value)
    assert "model.vae.pretrained=someone/wan" in msg and str(env / "hf" / "hub" / "models--someone--wan") in msg
    assert "YOLO_OFFLINE=1" in msg and "pass model.vae.pretrained=DIR" in msg
    # the explicit setting says so itself
    monkeypatch.delenv("YOLO_OFFLINE")
    with pytest.raises(CaptionerWeightsError, match=r"downloads are off \(allow_download=false\).*"
                                                    r"set allow_download=true"):
        resolve_model("someone/tiny-vlm", "vlm", allow_download=False)


def test_hub_ids_are_found_in_the_cache_offline(env, monkeypatch):
    monkeypatch.setenv("HMWORLD_OFFLINE", "1")
    snap = _snapshot(env / "hf", "someone/wan", {"vae/config.json": "{}"})
    found = resolve_folder("someone/wan", setting="model.vae.pretrained", what="VAE")
    assert found.folder == snap and found.from_hub and found.model_id == "someone/wan"
    local = env / "models" / "wan"
    local.mkdir(parents=True)
    assert locate_folder(str(local)).folder == local and not locate_folder(str(local)).from_hub
    # a path that is no hub id is named as such, without a cache lookup
    with pytest.raises(WeightsNotFoundError, match=r"model.vae.pretrained=\./nowhere: VAE not found \(no such file or "
                                                   r"folder .*cwd/nowhere\)"):
        resolve_folder("./nowhere", setting="model.vae.pretrained", what="VAE")
    row = folder_status("vae", ("train",), "VAE", "someone/wan", setting="model.vae.pretrained", subfolder="vae")
    assert row.present and row.origin == "hub cache" and row.found_at == str(snap / "vae")


def _report(args, capsys):
    from hmworld.metrics.weights_cli import main

    status = main(args)
    return status, capsys.readouterr().out


def test_the_report_lists_metrics_captioner_and_model(env, monkeypatch, capsys):
    monkeypatch.setenv("HMWORLD_OFFLINE", "1")
    weights = env / "weights"
    weights.mkdir()
    # presence is all the report checks (nothing is loaded): the real file names are enough
    for name in ("alexnet-owt-7be5be79.pth", "vit_base_patch16_224.dino.safetensors", "ViT-B-32.pt", "yolo11x.pt"):
        (weights / name).write_bytes(b"w")
    wan = env / "Wan2.1-T2V-1.3B-Diffusers"
    for rel in ("transformer/config.json", "vae/config.json", "text_encoder/config.json",
                "tokenizer/tokenizer_config.json"):
        (wan / rel).parent.mkdir(parents=True, exist_ok=True)
        (wan / rel).write_text("{}")
    cpm = env / "MiniCPM-V-4_5"
    cpm.mkdir()
    (cpm / "config.json").write_text("{}")
    args = [f"weights_dir={weights}", f"model.root={wan}", f"captioner.model={cpm}"]
    status, out = _report(args, capsys)
    assert status == 0 and "10/10 present" in out and "MISSING" not in out
    for line in ("hydra-wan2.1-1.3b: Wan transformer", "hydra-wan2.1-1.3b: UMT5 tokenizer", "captioner minicpm"):
        assert line in out
    assert f"{wan / 'vae'} (local)" in out and f"{cpm} (local)" in out
    # one part gone: exit status 1, the row says what the folder lacks and every place it looked
    (wan / "vae" / "config.json").unlink()
    status, out = _report(args, capsys)
    assert status == 1 and "9/10 present; 1 missing" in out
    row = next(line for line in out.splitlines() if "Wan VAE" in line)
    assert "MISSING" in row and f"{wan / 'vae'} lacks config.json" in row and "model.vae.pretrained" in row
    # the same model through the Hugging Face cache, by its hub id
    _snapshot(env / "hf", "Wan-AI/Wan2.1-T2V-1.3B-Diffusers", {"transformer/config.json": "{}"})
    status, out = _report([f"weights_dir={weights}", f"captioner.model={cpm}"], capsys)
    row = next(line for line in out.splitlines() if "Wan transformer" in line)
    assert "present" in row and "(hub cache)" in row
    row = next(line for line in out.splitlines() if "Wan VAE" in line)
    assert "MISSING" in row and "hf download Wan-AI/Wan2.1-T2V-1.3B-Diffusers --local-dir DIR" in row
    assert str(env / "cwd" / "Wan-AI" / "Wan2.1-T2V-1.3B-Diffusers" / "vae") in row
    # weightless choices are listed as such
    status, out = _report([f"weights_dir={weights}", "model=tiny", "captioner=template"], capsys)
    assert status == 0 and "7/7 present" in out and out.count("not needed") == 2
