"""Weights resolution (weights_dir, library cache, download), offline errors, the `hmworld weights` report."""
import shutil

import pytest
import torch

from hmworld.metrics import WeightsNotFoundError, load_clip, load_dino, load_lpips, load_yolo, report
from hmworld.metrics import weights as W
from hmworld.metrics.weights_cli import main as weights_main
from metrics_testlib import TINY_CLIP, TINY_DINO, TINY_YOLO


@pytest.fixture
def empty_caches(tmp_path, monkeypatch):
    """Point every library cache at empty temporary folders so nothing on this machine is found."""
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch"))
    monkeypatch.setenv("HF_HOME", str(tmp_path / "hf"))
    monkeypatch.delenv("HF_HUB_CACHE", raising=False)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    monkeypatch.setenv("VBENCH_CACHE_DIR", str(tmp_path / "vbench"))
    from ultralytics.utils import SETTINGS

    monkeypatch.setitem(SETTINGS, "weights_dir", str(tmp_path / "ultralytics_weights"))
    return tmp_path


@pytest.mark.parametrize("loader, filename", [
    (lambda d: load_lpips(d, "cpu"), "alexnet-owt-7be5be79.pth"),
    (lambda d: load_dino(d, "cpu"), "vit_base_patch16_224.dino.safetensors"),
    (lambda d: load_clip(d, "cpu"), "ViT-B-32.pt"),
    (lambda d: load_yolo(d), "yolo11x.pt"),
])
def test_offline_missing_weights_name_file_and_place(empty_caches, tmp_path, loader, filename):
    empty = tmp_path / "my_weights"
    empty.mkdir()
    with pytest.raises(WeightsNotFoundError) as err:
        loader(empty)
    msg = str(err.value)
    assert filename in msg and str(empty) in msg and "downloads are off" in msg


def test_download_branch_reports_failure_clearly(empty_caches, tmp_path):
    # HF_HUB_OFFLINE makes huggingface_hub refuse at once: exercises the download branch with no network.
    with pytest.raises(WeightsNotFoundError, match="downloading vit_base_patch16_224.dino.safetensors .* failed"):
        W.resolve(W.SPECS["dino_vitb16"], tmp_path, allow_download=True)


def test_library_caches_are_used_without_weights_dir(empty_caches, weights_dir):
    # torch.hub cache (where torchvision downloads AlexNet and torch.hub keeps DINO's .pth)
    hub = empty_caches / "torch" / "hub" / "checkpoints"
    hub.mkdir(parents=True)
    shutil.copy(weights_dir / "alexnet-owt-7be5be79.pth", hub)
    assert W.locate(W.SPECS["lpips_alexnet"])[1] == "cache"
    load_lpips(None, "cpu")
    # Hugging Face hub cache layout (what timm's download leaves behind)
    snap = empty_caches / "hf" / "hub" / "models--timm--vit_base_patch16_224.dino" / "snapshots" / "abc123"
    snap.mkdir(parents=True)
    (snap.parent.parent / "refs").mkdir()
    (snap.parent.parent / "refs" / "main").write_text("abc123")
    shutil.copy(weights_dir / "vit_base_patch16_224.dino.safetensors", snap / "model.safetensors")
    path, origin = W.locate(W.SPECS["dino_vitb16"])
    assert origin == "cache" and path.name == "model.safetensors"
    assert load_dino(None, "cpu", arch=TINY_DINO).vit.embed_dim == TINY_DINO["embed_dim"]
    # ultralytics' weights_dir setting
    from ultralytics.utils import SETTINGS

    ul = empty_caches / "ultralytics_weights"
    ul.mkdir()
    shutil.copy(weights_dir / TINY_YOLO, ul)
    assert W.locate(W.yolo_spec(TINY_YOLO))[0] == ul / TINY_YOLO
    assert SETTINGS["weights_dir"] == str(ul)


@pytest.mark.filterwarnings("ignore::torch.jit.TracerWarning", "ignore::FutureWarning")
def test_dino_original_checkpoint_name_and_clip_torchscript_archive(empty_caches, tmp_path, weights_dir):
    import open_clip
    from safetensors.torch import load_file

    d = tmp_path / "w"
    d.mkdir()
    # The DINO repository's file name (a plain state dict with the same parameter names).
    torch.save(load_file(str(weights_dir / "vit_base_patch16_224.dino.safetensors")), d / "dino_vitbase16_pretrain.pth")
    dino = load_dino(d, "cpu", arch=TINY_DINO)
    assert W.locate(W.SPECS["dino_vitb16"], d)[0].name == "dino_vitbase16_pretrain.pth"
    # OpenAI's ViT-B-32.pt is a TorchScript archive: a traced tiny CLIP has the same layout.
    src = open_clip.create_model("ViT-B-32-quickgelu", pretrained=None, **TINY_CLIP).eval()
    torch.jit.trace_module(src, {"encode_image": torch.rand(1, 3, 224, 224)}, check_trace=False).save(str(d / "ViT-B-32.pt"))
    loaded = load_clip(d, "cpu", arch=TINY_CLIP)
    x = torch.rand(2, 3, 224, 224)
    with torch.no_grad():
        torch.testing.assert_close(loaded.encode_image(x), src.encode_image(x))
    assert dino is not None


def test_weights_report_and_command(empty_caches, tmp_path, weights_dir, capsys, monkeypatch):
    rows = {r.key: r for r in report(weights_dir, yolo_weights=TINY_YOLO)}
    assert rows["lpips_lin"].present and rows["lpips_lin"].origin == "package"
    assert rows["lpips_alexnet"].origin == "weights_dir" and rows["yolo11"].present
    # CLIP is present under its second accepted name, DINO under its canonical one.
    assert rows["clip_vitb32"].found_at.endswith("ViT-B-32-quickgelu.openai.safetensors")
    monkeypatch.setenv("HMWORLD_WEIGHTS_DIR", str(weights_dir))     # the default folder when none is named
    assert W.locate(W.SPECS["dino_vitb16"])[1] == "weights_dir"
    monkeypatch.delenv("HMWORLD_WEIGHTS_DIR")
    assert weights_main([f"weights_dir={weights_dir}", f"yolo_weights={TINY_YOLO}"]) == 0
    out = capsys.readouterr().out
    assert "5/5 present" in out and "MISSING" not in out
    empty = tmp_path / "nothing"
    empty.mkdir()
    assert weights_main([f"weights_dir={empty}"]) == 1
    out = capsys.readouterr().out
    assert out.count("MISSING") == 4 and "put yolo11x.pt in" in out and str(empty) in out
    from hydra.errors import ConfigCompositionException

    with pytest.raises(ConfigCompositionException):
        weights_main(["no_such_key=1"])
