"""Retrieval logs (`hmworld generate ... save_retrieval=true`) and their views (`hmworld retrieval-view`): the log
holds exactly what the model retrieved, lives beside the submission (the validator still accepts the folder), the
frame mapping follows Wan's VAE layout, and the heat map counts what the log says."""
from __future__ import annotations

import shutil
import subprocess
import sys

import numpy as np
import pytest
import torch
from hydra import compose, initialize_config_module
from omegaconf import OmegaConf

from hmworld.errors import ConfigError
from hmworld.model.cache import LatentCache
from hmworld.model.generate import (Generator, Sampler, generate_split, read_retrieval, retrieval_dir,
                                    write_retrieval)
from hmworld.model.retrieval_view import build_view, draw_png, latent_video_frames, visible_share, write_views
from hmworld.split import Split
from tests.model.testlib import tiny_model_cfg


def test_latent_to_video_frame_mapping():
    # 21 + 21 frames -> 6 + 6 latents: latent 0 = frame 0, latent 1 = frames 1-4, latent 5 = 17-20; target half
    # starts again with its first frame alone (clip frame 21)
    assert latent_video_frames(0, 6, 21) == [0]
    assert latent_video_frames(1, 6, 21) == [1, 2, 3, 4]
    assert latent_video_frames(5, 6, 21) == [17, 18, 19, 20]
    assert latent_video_frames(6, 6, 21) == [21]
    assert latent_video_frames(7, 6, 21) == [22, 23, 24, 25]
    assert latent_video_frames(11, 6, 21) == [38, 39, 40, 41]


def _record(indices):
    meta = {"format": 1, "clip_id": "c", "split": None, "retrieval_mode": "dynamic", "top_k": 2, "window_size": 3,
            "memory_kernel": [2, 2, 2], "context_latents": 6, "target_latents": 6, "context_frames": 21,
            "target_frames": 21, "steps": indices.shape[0], "shift": 5.0, "guidance": 1.0, "seed": 0}
    return {"indices": indices, "meta": meta}


def test_counts_and_visibility_from_a_known_log(tmp_path):
    idx = np.full((3, 2, 12, 2), -1, np.int16)  # 3 steps, 2 blocks, 12 latent frames, top_k 2
    idx[:, :, 6 + 4] = [0, 5]  # target latent 4 reads memory 0 and 5 at every step and block
    idx[0, 1, 6 + 5] = [1, -1]  # target latent 5 reads memory 1 once
    idx[:, :, :6] = 2  # context frames' retrievals are not part of the target x memory map
    rec = _record(idx)
    events = {"context_frames": 21, "target_frames": 21,
              "subjects": [{"instance_id": 1, "visible_intervals": [[0, 5], [38, 42]],
                            "events": [{"exit_frame": 5, "entry_frame": 38}]}]}
    v = build_view(rec, events, {"subjects": [{"instance_id": 1, "name": "dog"}]})
    want = np.zeros((6, 6), int)
    want[4, 0] = want[4, 5] = 6
    want[5, 1] = 1
    np.testing.assert_array_equal(v.counts, want)
    # memory 0 = latents 0-1 = frames 0-4 (all visible); memory 1 = latents 2-3 = frames 5-12 (none);
    # memory 5 = latents 10-11 = frames 34-41, visible on 38-41 only: half
    np.testing.assert_allclose(v.mem_vis[1], [1, 0, 0, 0, 0, 0.5])
    np.testing.assert_allclose(v.tgt_vis[1], [0, 0, 0, 0, 0, 1])  # target latent 5 = frames 38-41
    assert v.events == [(1, 5, 38)] and v.context_memory == 3
    # target latent 5 (subject visible) read memory 1 once, where the subject was not: share 0
    assert visible_share(v) == 0.0
    png = draw_png(v)
    assert png[:8] == b"\x89PNG\r\n\x1a\n"
    write_retrieval(tmp_path / "c.npz", rec)
    back = read_retrieval(tmp_path / "c.npz")
    np.testing.assert_array_equal(back["indices"], idx)
    (tmp_path / "bad.npz").write_bytes(b"nope")
    with pytest.raises(ConfigError, match="not a retrieval log"):
        read_retrieval(tmp_path / "bad.npz")


@pytest.fixture(scope="module")
def pca_run(tiny_split, tmp_path_factory):
    """The tiny split cached with model=tiny (patch autoencoder) and a 2-step checkpoint."""
    from hmworld.model.training import run_training

    root = tmp_path_factory.mktemp("rv")
    split = root / "split"
    shutil.copytree(tiny_split, split, ignore=shutil.ignore_patterns("cache"))
    LatentCache(split, tiny_model_cfg()).build()
    with initialize_config_module(config_module="hmworld.render_configs", version_base="1.3"):
        cfg = compose(config_name="train", overrides=[f"split={split}", f"out={root / 'run'}",
                                                       "trainer.accelerator=cpu", "trainer.max_steps=2"])
    return split, run_training(cfg, progress=False)["checkpoint"]


def _gen_cfg(**kw):
    base = {"steps": 2, "shift": None, "guidance": 2.0, "seed": 0, "overwrite": False, "limit": None,
            "cache_dir": None, "model_name": None, "description": None, "url": None, "save_retrieval": True}
    return OmegaConf.create({**base, **kw})


def test_generate_logs_what_the_model_retrieved_beside_the_submission(pca_run, tmp_path):
    split_dir, ckpt = pca_run
    split = Split(split_dir)
    gen = Generator(ckpt)
    out = tmp_path / "sub"
    report = generate_split(_gen_cfg(split=str(split_dir), out=str(out)), gen)
    assert report.retrieval == retrieval_dir(out) == tmp_path / "sub.retrieval"
    assert sorted(p.name for p in out.iterdir()) == sorted([f"{c}.mp4" for c in split.clip_ids] + ["submission.yaml"])
    validate = pytest.importorskip("hmworld.benchmark.validate")
    assert validate.validate_submission(out, split).problems == []
    clip = split[0]
    rec = read_retrieval(retrieval_dir(out) / f"{clip.clip_id}.npz")
    assert rec["indices"].shape == (2, 2, 12, 2) and rec["meta"]["split"] == str(split_dir.resolve())
    # the same forward, replayed by hand: the conditional branch's indices at the first step
    cache = LatentCache(split, gen.model_cfg, autoencoder_identity=gen.autoencoder_identity)
    ctx = cache.load_latents(clip)[:, :6][None]
    log = []
    gen.sample(ctx, cache.load(clip)["camera"], gen.pad_text(cache.load_text(clip)), 6,
               Sampler(2, float(gen.sampler_defaults()["shift"]), 2.0, 0), clip.clip_id, retrieval=log)
    np.testing.assert_array_equal(rec["indices"], torch.stack(log).numpy())
    # a rerun without overwrite skips everything; one asking for logs that are missing regenerates that clip
    (retrieval_dir(out) / f"{clip.clip_id}.npz").unlink()
    again = generate_split(_gen_cfg(split=str(split_dir), out=str(out)), gen)
    assert again.written == [clip.clip_id]
    # the command draws it: one PNG per clip and index.html; a run without logs is a one-line error
    views = tmp_path / "views"
    proc = subprocess.run([sys.executable, "-m", "hmworld", "retrieval-view", f"run={out}", f"out={views}"],
                          capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr
    assert sorted(p.name for p in views.iterdir()) == sorted([f"{c}.png" for c in split.clip_ids] + ["index.html"])
    page = (views / "index.html").read_text()
    assert "data:image/png;base64," in page and "<script" not in page and "http" not in page
    proc = subprocess.run([sys.executable, "-m", "hmworld", "retrieval-view", f"run={tmp_path / 'none'}",
                           f"out={views}"], capture_output=True, text=True, timeout=300)
    assert proc.returncode == 2 and "Traceback" not in proc.stderr and "save_retrieval=true" in proc.stderr
    assert len(proc.stderr.strip().splitlines()) == 1


def test_modes_without_memory_log_nothing(pca_run, tmp_path):
    split_dir, ckpt = pca_run
    gen = Generator(ckpt)
    gen.transformer.set_retrieval_mode("local")
    gen.model_cfg["transformer"]["config"]["retrieval_mode"] = "local"
    report = generate_split(_gen_cfg(split=str(split_dir), out=str(tmp_path / "sub"), limit=1), gen)
    assert report.retrieval is None and not retrieval_dir(tmp_path / "sub").exists()


def test_write_views_without_split_draws_no_strips(tmp_path):
    idx = np.zeros((1, 1, 12, 2), np.int16)
    write_retrieval(tmp_path / "logs" / "c.npz", _record(idx))
    files = write_views([tmp_path / "logs" / "c.npz"], tmp_path / "v")
    assert [f.name for f in files] == ["c.png", "index.html"]
