"""Helpers for the model and training tests.

Everything is built offline: a tiny random-initialised AutoencoderKLWan and a tiny UMT5 encoder with a word-level
tokenizer trained on a handful of sentences, saved to folders and loaded back through the pipeline's real loading
code; a synthetic HM-World release in the authors' raw layout.
"""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import torch


def save_tiny_vae(folder: Path) -> Path:
    """The tiny Wan VAE of the reference notes, seeded, saved with diffusers' save_pretrained."""
    from diffusers import AutoencoderKLWan

    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(0)
        vae = AutoencoderKLWan(base_dim=16, z_dim=16, dim_mult=[1, 2, 4, 4], num_res_blocks=1,
                               temperal_downsample=[False, True, True], latents_mean=[0.0] * 16,
                               latents_std=[0.25] * 16)
    vae.save_pretrained(folder)
    return folder


def save_tiny_umt5(folder: Path, d_model: int = 32) -> Path:
    """A tiny UMT5EncoderModel plus a word-level fast tokenizer (built offline), in one folder."""
    from tokenizers import Tokenizer, models, pre_tokenizers, trainers
    from transformers import PreTrainedTokenizerFast, UMT5Config, UMT5EncoderModel

    corpus = ["a dog walks across the park", "the camera pans away and back", "a person in a red coat",
              "a horse trots along the street", "the bird flies over the lawn"]
    tok = Tokenizer(models.WordLevel(unk_token="<unk>"))
    tok.pre_tokenizer = pre_tokenizers.Whitespace()
    tok.train_from_iterator(corpus, trainers.WordLevelTrainer(special_tokens=["<pad>", "</s>", "<unk>"]))
    fast = PreTrainedTokenizerFast(tokenizer_object=tok, pad_token="<pad>", eos_token="</s>", unk_token="<unk>")
    fast.save_pretrained(folder)
    cfg = UMT5Config(vocab_size=len(fast), d_model=d_model, d_kv=8, d_ff=64, num_layers=1, num_heads=2,
                     relative_attention_num_buckets=8, pad_token_id=0, eos_token_id=1, decoder_start_token_id=0)
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(0)
        UMT5EncoderModel(cfg).save_pretrained(folder)
    return folder


def tiny_model_cfg(vae_dir: Path | None = None, text_dir: Path | None = None, **transformer) -> dict:
    """The `model=tiny` config (as the CLI composes it), optionally on saved tiny VAE / UMT5 folders."""
    from hydra import compose, initialize_config_module
    from omegaconf import OmegaConf

    with initialize_config_module(config_module="hmworld.render_configs", version_base="1.3"):
        cfg = compose(config_name="train", overrides=["split=x", "out=y"])
    model = OmegaConf.to_container(cfg.model, resolve=True)
    if vae_dir is not None:
        model["vae"] = {"kind": "wan", "pretrained": str(vae_dir), "dtype": "float32"}
        model["transformer"]["config"].update(in_channels=16, out_channels=16)
    if text_dir is not None:
        model["text_encoder"] = {"kind": "umt5", "pretrained": str(text_dir), "dtype": "bfloat16", "dim": 32,
                                 "max_length": 16}
        model["transformer"]["config"]["text_dim"] = 32
    model["transformer"]["config"].update(transformer)
    return model


def model_overrides(vae_dir: Path, text_dir: Path) -> list[str]:
    """The same as `tiny_model_cfg(vae_dir, text_dir)` as CLI overrides."""
    return [f"model.vae.pretrained={vae_dir}", "model.vae.kind=wan", "model.vae.channels=16",
            "model.text_encoder.kind=umt5",
            f"model.text_encoder.pretrained={text_dir}", "model.text_encoder.dim=32",
            "model.text_encoder.dtype=bfloat16", "model.text_encoder.max_length=16",
            "model.transformer.config.text_dim=32"]


# ------------------------------------------------------------------------------------------------ raw release
def ue_columns_string(m: np.ndarray) -> str:
    """An Unreal matrix as the release writes it: four bracketed COLUMN strings."""
    return " ".join("[" + " ".join(f"{v:.6f}" for v in m[:, j]) + "]" for j in range(4))


def synthetic_ue_poses(n: int, phase: float = 0.0) -> np.ndarray:
    """Unreal camera-to-world matrices (local X/Y/Z axes as columns, cm): a camera panning while moving."""
    from hmworld.ue_axes import ue_rotator_to_matrix

    t = np.linspace(0, 1, n)
    rot = ue_rotator_to_matrix(-5.0 + 3 * t, 40.0 * np.sin(2 * np.pi * t + phase), 0.0 * t)
    m = np.zeros((n, 4, 4))
    m[:, :3, :3] = rot
    m[:, :3, 3] = np.stack([100 * t, 50 * np.sin(t * 3), 160 + 0 * t], -1)
    m[:, 3, 3] = 1
    return m


def write_synthetic_release(root: Path, num_clips: int = 2, frames: int = 149, size: int = 32) -> dict:
    """Files in the authors' described layout: captions.txt, <scene>/<clip>/<clip>.mp4, camera JSON, *_check.json,
    *_character.json, *M_CustomDepth.mp4 (ignored). Returns what was written, for the assertions."""
    from hmworld.video import write_video

    root.mkdir(parents=True, exist_ok=True)
    lines, truth = [], {}
    for k in range(num_clips):
        rel_dir = Path(f"scene{k}") / f"clip{k:03d}"
        d = root / rel_dir
        d.mkdir(parents=True)
        # grey level = frame index (survives H.264's chroma subsampling), a clip-dependent stripe in the corner
        ramp = (np.arange(frames) * 255 // frames).astype(np.uint8)
        video = np.ascontiguousarray(np.broadcast_to(ramp[:, None, None, None], (frames, size, size, 3)))
        video[:, : size // 4, : size // 4] = 40 * k
        write_video(d / f"clip{k:03d}.mp4", video, 15)
        write_video(d / f"clip{k:03d}M_CustomDepth.mp4", video, 15)
        poses = synthetic_ue_poses(frames, phase=k)
        cam = {str(i): ue_columns_string(poses[i]) for i in range(frames) if i != 7}  # frame 7 missing: repeats 6
        (d / f"clip{k:03d}.json").write_text(json.dumps(cam))
        (d / f"clip{k:03d}_check.json").write_text(json.dumps(
            [{"character": "dog_golden", "exit_frame": 40 + k, "entry_frame": 110 + k},
             {"character": "man_hiker", "exit_frame": 90, "entry_frame": 120}]))  # 2nd: exit in the target half
        (d / f"clip{k:03d}_character.json").write_text(json.dumps(
            [{"name": "dog_golden", "positions": {str(i): [10.0 * i, 20.0, 0.0] for i in range(frames)}},
             {"name": "man_hiker"}]))
        caption = f"a golden dog and a hiker, clip {k}"
        lines.append(f"{rel_dir}/clip{k:03d}.mp4\t{caption}")
        truth[f"{rel_dir}/clip{k:03d}.mp4"] = {"poses": poses, "caption": caption, "video": video}
    (root / "captions.txt").write_text("\n".join(lines) + "\n")
    return truth
