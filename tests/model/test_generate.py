"""Generation: submission folder naming/shape/fps through SubmissionInfo, resume and settings check, single-clip
form with our camera JSON and the released HyDRA example format, bad camera JSON named."""
from __future__ import annotations

import json

import numpy as np
import pytest
from hydra import compose, initialize_config_module
from omegaconf import OmegaConf

from hmworld.benchmark.submission import read_submission_info
from hmworld.errors import ConfigError
from hmworld.model.generate import Generator, generate_clip, generate_split, load_camera_json
from hmworld.model.training import run_training
from hmworld.split import Split
from hmworld.ue_axes import opencv_to_ue_c2w
from hmworld.video import probe_video, read_video, write_video
from tests.model.testlib import model_overrides


@pytest.fixture(scope="module")
def checkpoint(cached_split, tiny_assets, tmp_path_factory):
    out = tmp_path_factory.mktemp("genrun")
    with initialize_config_module(config_module="hmworld.render_configs", version_base="1.3"):
        cfg = compose(config_name="train", overrides=[
            f"split={cached_split}", f"out={out}", *model_overrides(tiny_assets["vae"], tiny_assets["text"]),
            "trainer.accelerator=cpu", "trainer.max_steps=2"])
    return run_training(cfg, progress=False)["checkpoint"]


@pytest.fixture(scope="module")
def generator(checkpoint):
    return Generator(checkpoint)


def _gen_cfg(**kw):
    base = {"steps": 2, "shift": None, "guidance": None, "seed": 0, "overwrite": False, "limit": None,
            "cache_dir": None, "model_name": None, "description": None, "url": None}
    return OmegaConf.create({**base, **kw})


def test_split_generation_writes_a_submission(cached_split, generator, tmp_path):
    out = tmp_path / "sub"
    split = Split(cached_split)
    report = generate_split(_gen_cfg(split=str(cached_split), out=str(out)), generator)
    assert sorted(report.written) == sorted(split.clip_ids)
    names = sorted(p.name for p in out.iterdir())  # nothing else: the validator refuses extra files
    assert names == sorted([f"{c}.mp4" for c in split.clip_ids] + ["submission.yaml"])
    info = read_submission_info(out)
    assert info.split_fingerprint == split.fingerprint and info.includes_context is False
    assert info.fps == 15 and info.model == "hydra-tiny" and info.params > 0
    for clip in split:
        v = probe_video(out / f"{clip.clip_id}.mp4")
        frames = read_video(out / f"{clip.clip_id}.mp4")
        assert (v.width, v.height, v.fps) == (64, 64, 15) and frames.shape == (21, 64, 64, 3)
    # the leaderboard's own validator accepts the folder (when the leaderboard is installed)
    validate = pytest.importorskip("hmworld.benchmark.validate")
    vr = validate.validate_submission(out, split)
    assert vr.problems == [] and all(vr.valid(c) for c in split.clip_ids)
    # the same clip gets the same video whatever else is generated (noise from (seed, clip id))
    one = tmp_path / "one"
    generate_split(_gen_cfg(split=str(cached_split), out=str(one), limit=1), generator)
    assert (one / f"{split.clip_ids[0]}.mp4").read_bytes() == (out / f"{split.clip_ids[0]}.mp4").read_bytes()
    assert not (one / "submission.yaml").exists()  # only part of the split
    # rerun: nothing regenerated; other settings are refused without overwrite
    again = generate_split(_gen_cfg(split=str(cached_split), out=str(out)), generator)
    assert again.written == [] and len(again.skipped) == 2
    with pytest.raises(ConfigError, match="sampler"):
        generate_split(_gen_cfg(split=str(cached_split), out=str(out), steps=3), generator)
    # the settings record guards videos only: an emptied folder starts afresh with other settings
    for f in one.glob("*.mp4"):
        f.unlink()
    assert generate_split(_gen_cfg(split=str(cached_split), out=str(one), limit=1, steps=3), generator).written


def _context_video(clip, path):
    write_video(path, clip.context(), 15)
    return path


def test_single_clip_with_our_and_the_released_camera_json(cached_split, generator, tmp_path):
    clip = Split(cached_split)[0]
    video = _context_video(clip, tmp_path / "ctx.mp4")
    c2w = clip.camera.c2w
    ours = tmp_path / "ours.json"
    ours.write_text(json.dumps({"convention": "opencv_c2w_metres", "c2w": [m.reshape(16).tolist() for m in c2w]}))
    # the released example format: Unreal camera-to-world, row-major with translation in the last column, cm
    ue = opencv_to_ue_c2w(c2w)
    released = tmp_path / "cam1.json"
    released.write_text(json.dumps({"cond_cam": {str(i): ue[i].tolist() for i in range(21)},
                                    "tgt_cam": {str(i): ue[21 + i].tolist() for i in range(21)}}))
    for cam in (ours, released):
        ctx, tgt = load_camera_json(cam, 21)
        np.testing.assert_allclose(np.concatenate([ctx, tgt]), c2w, atol=1e-9)
    cfg = _gen_cfg(video=str(video), camera=str(released), caption=clip.caption, out=str(tmp_path / "pred"),
                   name="pred", fps=None)
    generate_clip(cfg, generator)
    frames = read_video(tmp_path / "pred" / "pred.mp4")
    assert frames.shape == (21, 64, 64, 3)


@pytest.mark.parametrize("content,needle", [
    ({"c2w": [[1, 0, 0]] * 42}, "field c2w must hold one 4x4 matrix"),
    ({"c2w": [list(np.eye(4).reshape(16))] * 21}, "field c2w has 21 poses"),
    ({"cond_cam": {str(i): np.eye(4).tolist() for i in range(17)}, "tgt_cam": {"0": np.eye(4).tolist()}},
     "field cond_cam has 17 poses"),
    ({"cond_cam": {"0": [1, 2, 3]}, "tgt_cam": {}}, "4x4"),
    ({"poses": []}, "expected field c2w"),
])
def test_bad_camera_json_names_file_and_field(tmp_path, content, needle):
    path = tmp_path / "cam.json"
    path.write_text(json.dumps(content))
    with pytest.raises(ConfigError) as e:
        load_camera_json(path, 21)
    assert needle in str(e.value) and str(path) in str(e.value)


def test_default_negative_prompt_is_the_releases(cached_split, generator, tmp_path):
    """The unconditional guidance branch encodes Wan's default negative prompt, as the released HyDRA inference
    does; negative_prompt=null is the all-padding caption caption dropout trains; any other text is encoded."""
    import torch

    from hmworld.model.generate import WAN_NEGATIVE_PROMPT, resolve_sampler

    gen = generator
    cfg = lambda **kw: _gen_cfg(guidance=5.0, limit=1, **kw)  # noqa: E731
    assert resolve_sampler(cfg(), gen).negative_prompt == WAN_NEGATIVE_PROMPT
    assert resolve_sampler(cfg(negative_prompt=None), gen).negative_prompt is None
    like = torch.ones(1, gen.max_length, 4)
    assert torch.count_nonzero(gen.negative_text(None, like)) == 0
    wan = gen.negative_text(WAN_NEGATIVE_PROMPT, like)
    assert torch.count_nonzero(wan) > 0 and not torch.equal(wan, gen.negative_text("blurry", like))
    clip = Split(cached_split).clip_ids[0]
    videos = {}
    for name, kw in (("default", {}), ("explicit", {"negative_prompt": WAN_NEGATIVE_PROMPT}),
                     ("zero", {"negative_prompt": None})):
        out = tmp_path / name
        generate_split(cfg(split=str(cached_split), out=str(out), **kw), gen)
        videos[name] = read_video(out / f"{clip}.mp4")
    assert (videos["default"] == videos["explicit"]).all()
    assert not (videos["default"] == videos["zero"]).all()      # the unconditional branch is really used


def test_negative_prompt_setting_reaches_the_sampler(cached_split, checkpoint, generator, tmp_path):
    """`negative_prompt=` on the command line: absent, the release's (Wan's default negative prompt); null, the
    all-padding caption; any text, that text. Through Hydra's composition of the generate config into the sampler,
    and through the command into the sampler settings it records beside the submission."""
    from hmworld.model.generate import WAN_NEGATIVE_PROMPT, resolve_sampler, state_path
    from tests.testlib import run_cli

    def composed(*extra):
        with initialize_config_module(config_module="hmworld.render_configs", version_base="1.3"):
            return compose(config_name="generate", overrides=[f"checkpoint={checkpoint}", f"out={tmp_path / 'o'}",
                                                              *extra])

    assert resolve_sampler(composed(), generator).negative_prompt == WAN_NEGATIVE_PROMPT
    assert resolve_sampler(composed("negative_prompt=null"), generator).negative_prompt is None
    assert resolve_sampler(composed("negative_prompt='blurry, static'"), generator).negative_prompt == "blurry, static"
    # one command run (each costs seconds): a text with a comma and a space, quoted as a shell user would
    out = tmp_path / "cli"
    run_cli("generate", f"checkpoint={checkpoint}", f"split={cached_split}", f"out={out}", "limit=1", "steps=1",
            "guidance=2.0", "negative_prompt='blurry, static'", "device=cpu", "progress=false", timeout=600)
    assert json.loads(state_path(out).read_text())["sampler"]["negative_prompt"] == "blurry, static"
