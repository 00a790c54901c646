"""VBench subject consistency uses the DINO repository's VisionTransformer, whose position-embedding resize for
non-square inputs differs from timm's (other sampling positions through its scale factors, no antialiasing). Our
DINO model reproduces DINO's: checked against an independent numpy bicubic written from the rule (scale factors
((rows + 0.1) / g, (cols + 0.1) / g), cubic convolution a = -0.75, border clamp, align_corners off), through the
whole tiny model on non-square frames, and against the DINO repository's class itself: its vision_transformer.py
from HMWORLD_DINO_REPO, torch.hub's or VBench's cache when present, else the copy the dreamsim package ships
(DINO's file with its Apache-2.0 header; `scripts/setup.sh test` installs it, so this test never skips)."""
import math
import os
from functools import partial
from pathlib import Path

import numpy as np
import pytest
import torch

from hmworld.metrics.models import dino_resample_pos_embed, load_dino
from tests.metrics.testlib import TINY_DINO


def _cubic(t: np.ndarray, a: float = -0.75) -> np.ndarray:
    t = np.abs(t)
    return np.where(t <= 1, ((a + 2) * t - (a + 3)) * t * t + 1,
                    np.where(t < 2, (((t - 5) * t + 8) * t - 4) * a, 0.0))


def _resize_axis(x: np.ndarray, out: int, scale: float, axis: int) -> np.ndarray:
    """1-D bicubic along `axis` with the sampling positions a given scale factor sets (align_corners off)."""
    n = x.shape[axis]
    dst = np.arange(out)
    src = (dst + 0.5) / scale - 0.5
    base = np.floor(src).astype(int)
    frac = src - base
    res = 0
    for k in range(-1, 3):
        idx = np.clip(base + k, 0, n - 1)
        w = _cubic(frac - k)
        taken = np.take(x, idx, axis=axis)
        shape = [1] * x.ndim
        shape[axis] = out
        res = res + taken * w.reshape(shape)
    return res


def _reference_pos_embed(pos: np.ndarray, rows: int, cols: int) -> np.ndarray:
    n = pos.shape[1] - 1
    g = int(math.sqrt(n))
    grid = pos[0, 1:].reshape(g, g, -1).astype(np.float64)
    grid = _resize_axis(grid, rows, (rows + 0.1) / g, 0)
    grid = _resize_axis(grid, cols, (cols + 0.1) / g, 1)
    return np.concatenate([pos[:, :1], grid.reshape(1, rows * cols, -1)], axis=1)


def _smooth_pos_embed(g: int, dim: int) -> torch.Tensor:
    """Smooth in space like the real weights' (random weights would hide resampling differences in noise)."""
    yy, xx = np.meshgrid(np.linspace(0, 1, g), np.linspace(0, 1, g), indexing="ij")
    freqs = np.arange(dim) / dim * 3
    grid = np.sin(np.pi * (yy[..., None] * (1 + freqs) + xx[..., None] * (2 - freqs)))
    cls = np.linspace(-1, 1, dim)[None]
    return torch.tensor(np.concatenate([cls, grid.reshape(g * g, dim)])[None], dtype=torch.float32)


@pytest.mark.parametrize("rows, cols", [(14, 24), (14, 26), (24, 14), (14, 14)])
def test_position_embedding_follows_dinos_rule(rows, cols):
    pos = _smooth_pos_embed(14, 8)
    ours = dino_resample_pos_embed(pos, rows, cols, (rows * 16, cols * 16 + 1)).numpy()
    ref = _reference_pos_embed(pos.numpy(), rows, cols)
    assert ours.shape == ref.shape == (1, 1 + rows * cols, 8)
    np.testing.assert_allclose(ours, ref, atol=2e-6)
    if (rows, cols) != (14, 14):
        from timm.layers import resample_abs_pos_embed

        timm_pos = resample_abs_pos_embed(pos, new_size=(rows, cols), old_size=(14, 14), num_prefix_tokens=1)
        assert np.abs(timm_pos.numpy() - ref).max() > 1e-3          # what timm alone would have used
    # A square frame keeps the embedding untouched (DINO's shortcut) ...
    assert dino_resample_pos_embed(pos, 14, 14, (224, 224)) is pos


@pytest.fixture(scope="module")
def smooth_dino(weights_dir):
    model = load_dino(weights_dir, "cpu", arch=TINY_DINO)
    with torch.no_grad():
        model.vit.pos_embed.copy_(_smooth_pos_embed(14, TINY_DINO["embed_dim"]))
    return model


def _manual_features(vit, x: torch.Tensor, pos: torch.Tensor) -> torch.Tensor:
    """The DINO forward written out with timm's layers and a given position embedding."""
    tokens = vit.patch_embed.proj(x).flatten(2).transpose(1, 2)
    tokens = torch.cat([vit.cls_token.expand(x.shape[0], -1, -1), tokens], 1) + pos
    for blk in vit.blocks:
        tokens = blk(tokens)
    return vit.norm(tokens)[:, 0]


def test_whole_model_matches_the_rule_on_non_square_frames(smooth_dino):
    torch.manual_seed(0)
    x = torch.randn(2, 3, 224, 398)                   # VBench's resize of a 480x852 frame: 14 x 24 patches + remainder
    with torch.no_grad():
        ours = smooth_dino(x)
        ref_pos = torch.tensor(_reference_pos_embed(smooth_dino.vit.pos_embed.numpy(), 14, 24), dtype=torch.float32)
        ref = _manual_features(smooth_dino.vit, x[..., :224, :384], ref_pos)
    torch.testing.assert_close(ours, ref, atol=1e-5, rtol=0)


def _dino_class_file() -> Path | None:
    """DINO's vision_transformer.py: a checkout (or torch.hub's / VBench's clone), else dreamsim's copy of it."""
    import importlib.util

    candidates = [os.environ.get("HMWORLD_DINO_REPO", "")]
    torch_home = Path(os.environ.get("TORCH_HOME", Path.home() / ".cache" / "torch"))
    candidates.append(str(torch_home / "hub" / "facebookresearch_dino_main"))
    vb = os.environ.get("VBENCH_CACHE_DIR")
    if vb:
        candidates.append(str(Path(vb) / "dino_model" / "facebookresearch_dino_main"))
    spec = importlib.util.find_spec("dreamsim")  # finds the package without running its __init__ (needs peft)
    if spec is not None and spec.submodule_search_locations:
        candidates.append(str(Path(list(spec.submodule_search_locations)[0]) / "feature_extraction"))
    for c in candidates:
        if c and (Path(c) / "vision_transformer.py").is_file():
            return Path(c) / "vision_transformer.py"
    return None


def test_parity_with_the_dino_repository_class(smooth_dino):
    import importlib.util
    import sys

    path = _dino_class_file()
    assert path is not None, ("DINO's vision_transformer.py not found: `scripts/setup.sh test` installs it (pip install "
                              "--no-deps dreamsim==0.2.1), or set HMWORLD_DINO_REPO to a facebookresearch/dino checkout")
    source = path.read_text()
    # DINO's own resize (scale factors with the +0.1), not timm's or a rewrite of it
    assert "Copyright (c) Facebook" in source and "w0, h0 = w0 + 0.1, h0 + 0.1" in source
    sys.path.insert(0, str(path.parent))  # a checkout's file imports its sibling utils
    try:
        spec = importlib.util.spec_from_file_location("dino_vision_transformer", path)
        mod = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(mod)
    finally:
        sys.path.remove(str(path.parent))
    theirs = mod.VisionTransformer(patch_size=16, embed_dim=TINY_DINO["embed_dim"], depth=TINY_DINO["depth"],
                                   num_heads=TINY_DINO["num_heads"], mlp_ratio=4, qkv_bias=True,
                                   norm_layer=partial(torch.nn.LayerNorm, eps=1e-6)).eval()
    missing = theirs.load_state_dict(smooth_dino.vit.state_dict(), strict=False)
    assert not missing.missing_keys
    torch.manual_seed(1)
    for shape in ((224, 398), (398, 224), (224, 230), (224, 224)):
        x = torch.randn(2, 3, *shape)
        with torch.no_grad():
            torch.testing.assert_close(smooth_dino(x), theirs(x), atol=1e-5, rtol=0)
