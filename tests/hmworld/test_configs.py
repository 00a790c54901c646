"""Typed configs (hmworld/configs/): every command's YAML extends its schema, a key not in the schema is an
error (one line, exit 2 through the CLI), and the schemas keep what a split's identity hashes unchanged."""
from __future__ import annotations

import json
import subprocess
import sys

import pytest
from hydra import compose, initialize_config_module
from omegaconf import OmegaConf

from hmworld.configs import typed
from hmworld.configs.benchmark import ScoreConfig
from hmworld.configs.model import ModelConfig, as_model_config
from hmworld.configs.render import EmbeddedRendererConfig, RenderConfig, UnrealRendererConfig
from hmworld.configs.training import WAN_NEGATIVE_PROMPT, GenerateConfig, TrainConfig
from hmworld.errors import ConfigError

COMMANDS = ["render", "caption", "cache", "train", "generate", "retrieval_view", "study", "score", "score_merge",
            "leaderboard", "predict_baseline", "weights", "import_hmworld", "stats", "ucv_sim"]


def _compose(name, *overrides):
    with initialize_config_module(config_module="hmworld.render_configs", version_base="1.3"):
        return compose(config_name=name, overrides=list(overrides))


@pytest.mark.parametrize("name", COMMANDS)
def test_every_command_config_is_typed_by_its_schema(name):
    cfg = _compose(name)
    assert OmegaConf.get_type(cfg).__name__.endswith("Config")
    with pytest.raises(Exception, match="Could not override 'no_such_key'") as err:
        _compose(name, "no_such_key=1")
    assert f"Key 'no_such_key' not in '{OmegaConf.get_type(cfg).__name__}'" in str(err.value.__cause__)


def test_groups_are_typed_and_misspelled_group_keys_fail():
    assert OmegaConf.get_type(_compose("render").renderer) is EmbeddedRendererConfig
    assert OmegaConf.get_type(_compose("render", "renderer=unrealcv").renderer) is UnrealRendererConfig
    assert OmegaConf.get_type(_compose("train").model) is ModelConfig
    assert _compose("train", "model=wan_1_3b").model.text_encoder.max_length == 512
    with pytest.raises(Exception) as err:
        _compose("train", "model.vae.chanels=8")
    assert "Key 'chanels' not in 'VAEConfig'" in str(err.value.__cause__)
    with pytest.raises(Exception) as err:
        _compose("render", "renderer.qualty=game")
    assert "Key 'qualty' not in 'EmbeddedRendererConfig'" in str(err.value.__cause__)
    with pytest.raises(Exception) as err:
        _compose("render", "video.width=wide")
    assert "could not be converted to Integer" in str(err.value.__cause__)


def test_render_identity_keeps_the_numbers_as_written():
    # the split's identity is the resolved config: a schema must not turn [50, 64] into [50.0, 64.0]
    d = OmegaConf.to_container(_compose("render", "out=x"), resolve=True)
    assert json.dumps(d["compositor"]["hfov_deg"]) == "[50, 64]"
    assert json.dumps(d["tracking"]["overshoot_deg"]) == "[0.5, 5]"
    assert list(d)[:6] == ["partition", "renderer", "captioner", "out", "num_clips", "seed"]
    assert list(d["video"]) == list(RenderConfig().video.__dict__)


def test_library_entries_take_typed_configs_and_name_unknown_keys():
    m = as_model_config({"text_encoder": {"kind": "hashed", "dim": 8}})
    assert (m.text_encoder.max_length, m.vae.kind, m.name) == (512, "wan", "hydra")  # defaults defined once
    with pytest.raises(ConfigError, match="max_lenght"):
        as_model_config({"text_encoder": {"max_lenght": 3}})
    g = typed(GenerateConfig, {"steps": 2})
    assert (g.steps, g.guidance, g.negative_prompt, g.overwrite) == (2, None, WAN_NEGATIVE_PROMPT, False)
    with pytest.raises(ConfigError, match="GenerateConfig: .*stepz"):
        typed(GenerateConfig, {"stepz": 2})
    t = _compose("train", "split=s", "out=o")
    assert typed(TrainConfig, t).optim.lr == t.model.recipe.lr  # interpolated from the model's recipe
    assert ScoreConfig("s", "t", "r").dsc_mode == _compose("score").dsc_mode


def test_cli_reports_a_key_not_in_the_schema_in_one_line_with_status_2(tmp_path):
    proc = subprocess.run([sys.executable, "-m", "hmworld", "leaderboard", "results=x", f"out={tmp_path}",
                           "rank_byy=ssim"], capture_output=True, text=True, timeout=300)
    assert proc.returncode == 2, proc.stderr
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and "Key 'rank_byy' not in 'LeaderboardConfig'" in lines[0], proc.stderr
    assert "Traceback" not in proc.stderr


def test_study_sections_are_checked_against_each_command_schema():
    from hmworld.study import stage_config

    # free-form mappings (Lightning's Trainer arguments) take new keys, as +trainer.NAME=VALUE does
    cfg = stage_config("train", ["split=s", "out=o"], OmegaConf.create({"trainer": {"max_steps": 3, "new_arg": 1}}))
    assert (cfg.trainer.max_steps, cfg.trainer.new_arg) == (3, 1)
    with pytest.raises(Exception, match="Key 'trainr' not in 'TrainConfig'"):
        stage_config("train", ["split=s", "out=o"], OmegaConf.create({"trainr": {"max_steps": 3}}))
    with pytest.raises(Exception, match="Key 'widht' not in 'VideoConfig'"):
        stage_config("render", ["out=o"], OmegaConf.create({"video": {"widht": 64}}))


def test_a_misspelled_key_in_a_preset_is_one_line_with_status_2(tmp_path):
    (tmp_path / "study_preset").mkdir()
    (tmp_path / "study_preset" / "typo.yaml").write_text("# @package _global_\npreset: typo\nreport:\n  sampel_clips: 2\n")
    proc = subprocess.run([sys.executable, "-m", "hmworld", "study", "--config-dir", str(tmp_path),
                           "study_preset=typo", f"out={tmp_path / 'study'}"], capture_output=True, text=True,
                          timeout=300)
    assert proc.returncode == 2, proc.stderr
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and "study_preset/typo" in lines[0] and "Key 'sampel_clips' not in 'StudyReportConfig'" \
        in lines[0], proc.stderr
    assert not (tmp_path / "study").exists()
