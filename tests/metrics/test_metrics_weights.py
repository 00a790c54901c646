"""Weights resolution (weights_dir, library cache, download), offline errors, the `hmworld weights` report."""
import shutil

import pytest
import torch

from hmworld.metrics import WeightsNotFoundError, load_clip, load_dino, load_lpips, load_yolo, report
from hmworld.metrics import weights as W
from hmworld.metrics.weights_cli import main as weights_main
from tests.metrics.testlib import TINY_CLIP, TINY_DINO, TINY_YOLO


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
    (tmp_path / "home").mkdir()
    (tmp_path / "cwd").mkdir()
    monkeypatch.setenv("HOME", str(tmp_path / "home"))        # openai-clip / VBench defaults live under ~
    monkeypatch.chdir(tmp_path / "cwd")                        # ultralytics looks in the working folder first
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


def test_download_branch_reports_failure_clearly(empty_caches, tmp_path, monkeypatch):
    # HMWORLD_OFFLINE forbids every download, even an explicit one; without it allow_download=True goes on to the
    # download, which HF_HUB_OFFLINE makes huggingface_hub refuse at once: the download branch with no network.
    with pytest.raises(WeightsNotFoundError, match=r"downloads are off \(HMWORLD_OFFLINE=1"):
        W.resolve(W.SPECS["dino_vitb16"], tmp_path, allow_download=True)
    monkeypatch.delenv("HMWORLD_OFFLINE")
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
    # the metric rows only: a model and a captioner without weights (tests/hmworld/test_weights.py: the others)
    weightless = ["model=tiny", "captioner=template"]
    assert weights_main([f"weights_dir={weights_dir}", f"yolo_weights={TINY_YOLO}", *weightless]) == 0
    out = capsys.readouterr().out
    assert "7/7 present" in out and "MISSING" not in out
    empty = tmp_path / "nothing"
    empty.mkdir()
    assert weights_main([f"weights_dir={empty}", *weightless]) == 1
    out = capsys.readouterr().out
    assert out.count("MISSING") == 4 and "put yolo11x.pt in" in out and str(empty) in out
    from hydra.errors import ConfigCompositionException

    with pytest.raises(ConfigCompositionException):
        weights_main(["no_such_key=1"])


def test_each_librarys_real_cache_rules(empty_caches, weights_dir, monkeypatch):
    """openai-clip and VBench use ~/.cache even when $XDG_CACHE_HOME is set; VBench keeps DINO's own file under
    $VBENCH_CACHE_DIR/dino_model; ultralytics finds (and downloads) a bare name in the working folder."""
    home, xdg = empty_caches / "home", empty_caches / "xdg"
    clip_file = weights_dir / "ViT-B-32-quickgelu.openai.safetensors"   # only its presence is looked up here
    # a file where no library would put it is not found
    (xdg / "clip").mkdir(parents=True)
    shutil.copy(clip_file, xdg / "clip" / "ViT-B-32.pt")
    assert W.locate(W.SPECS["clip_vitb32"]) == (None, "missing")
    (home / ".cache" / "clip").mkdir(parents=True)
    shutil.copy(clip_file, home / ".cache" / "clip" / "ViT-B-32.pt")
    assert W.locate(W.SPECS["clip_vitb32"])[0] == home / ".cache" / "clip" / "ViT-B-32.pt"
    # VBench: $VBENCH_CACHE_DIR, else ~/.cache/vbench (not $XDG_CACHE_HOME/vbench)
    dino_pth = empty_caches / "vbench" / "dino_model" / "dino_vitbase16_pretrain.pth"
    dino_pth.parent.mkdir(parents=True)
    dino_pth.write_bytes(b"x")
    assert W.locate(W.SPECS["dino_vitb16"]) == (dino_pth, "cache")
    monkeypatch.delenv("VBENCH_CACHE_DIR")
    assert W.locate(W.SPECS["dino_vitb16"]) == (None, "missing")
    home_vb = home / ".cache" / "vbench" / "dino_model" / "dino_vitbase16_pretrain.pth"
    home_vb.parent.mkdir(parents=True)
    home_vb.write_bytes(b"x")
    assert W.locate(W.SPECS["dino_vitb16"]) == (home_vb, "cache")
    # ultralytics: the working folder before its weights_dir setting
    assert W.locate(W.yolo_spec(TINY_YOLO)) == (None, "missing")
    shutil.copy(weights_dir / TINY_YOLO, empty_caches / "cwd" / TINY_YOLO)
    assert W.locate(W.yolo_spec(TINY_YOLO))[0] == empty_caches / "cwd" / TINY_YOLO


def test_the_detector_used_is_recorded(weights_dir):
    from hmworld.metrics import DSCConfig, MetricModels, dsc
    from tests.metrics.testlib import ChangeDetector, synthetic_clip

    models = MetricModels(weights_dir=str(weights_dir), device="cpu", yolo_weights=TINY_YOLO, allow_download=False)
    assert models.get_detector().name == TINY_YOLO
    clip = synthetic_clip(c=21, t=21, seed=3)
    c, v = 21, clip["video"]

    class Stats:
        def embed(self, crops):
            import numpy as np

            f = [np.r_[x.reshape(-1, 3).mean(0), 1.0] for x in crops]
            return np.stack([x / np.linalg.norm(x) for x in f])

    r = dsc(v[c:], v[c:], v[:c], clip["events"], clip["subjects"], detector=ChangeDetector(clip["background"]),
            embedder=Stats())
    assert r.detector == "ChangeDetector"
    r = dsc(v[c:], v[c:], v[:c], clip["events"], clip["subjects"], embedder=Stats(), config=DSCConfig(mode="gt_boxes"),
            models=models)
    assert r.detector == "none"
