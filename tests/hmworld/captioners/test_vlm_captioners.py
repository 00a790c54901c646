"""The transformers captioners on real (tiny, random) models: a Qwen2-VL saved with its processor for
`captioner=vlm`, and a remote-code checkpoint folder (auto_map + Python files) for `captioner=minicpm`'s
remote-code path. Loading, frame sampling, batching, bf16 and generation are the production code."""

import pandas as pd
import pytest

from hmworld.captioners import build_captioner
from hmworld.captioners.recaption import clip_request, recaption_split, split_records
from hmworld.captioners.vlm import CaptionerError

from tests.hmworld.captioners.testlib import TINY_VIDEO, caption_config
from tests.testlib import render_config

FAST = {"max_new_tokens": 12, "min_new_tokens": 4, "num_frames": 4}


@pytest.fixture(scope="module")
def requests(rendered_split, catalog):
    return [clip_request(d, r, catalog) for d, r in split_records(rendered_split)]


@pytest.fixture(scope="module")
def qwen_captioner(tiny_qwen):
    cap = build_captioner({"name": "vlm", "model": str(tiny_qwen), "batch_size": 2, **FAST})
    yield cap
    cap.close()


def test_vlm_captions_rendered_clips_in_bf16_deterministically(qwen_captioner, requests):
    import torch

    first = qwen_captioner.caption(requests)
    assert len(first) == 3 and all(isinstance(t, str) and t and "\n" not in t and "\t" not in t for t in first)
    assert qwen_captioner.model.dtype == torch.bfloat16  # the default on CPU too
    assert type(qwen_captioner.model).__name__ == "Qwen2VLForConditionalGeneration"
    assert qwen_captioner.name == "vlm:tiny-qwen2-vl"
    assert qwen_captioner.caption(requests) == first  # greedy decoding: same text on every run


def test_a_clip_captioned_alone_gets_its_batched_caption(tiny_qwen, requests):
    # The batch is padded on the left, so every prompt ends where generation starts (right padding would make
    # the short prompts continue after pads). Checked in float32: a random tiny model's logits are nearly tied,
    # and bf16 rounding differences between batch shapes can flip a greedy choice without any padding bug.
    cap = build_captioner({"name": "vlm", "model": str(tiny_qwen), "batch_size": 2, "dtype": "float32", **FAST})
    try:
        batched = cap.caption(requests)
        assert cap.caption(requests[1:2]) == batched[1:2]
        assert len(set(batched)) > 1  # the text depends on the clip (its frames and its prompt)
    finally:
        cap.close()


def test_vlm_prompt_reaches_the_model_with_one_image_per_sampled_frame(qwen_captioner, requests):
    frames = qwen_captioner.frames_for(requests[0])
    assert len(frames) == 4
    prompt = qwen_captioner.prompt_for(requests[0], len(frames))
    text = qwen_captioner.processor.apply_chat_template(qwen_captioner.messages(len(frames), prompt),
                                                       add_generation_prompt=True, tokenize=False)
    assert text.count("<|vision_start|>") == 4 and prompt in text and text.endswith("assistant\n")
    cfg = qwen_captioner.generation_config()
    assert cfg.do_sample is False and cfg.num_beams == 1 and cfg.max_new_tokens == 12


def test_hmworld_caption_with_the_tiny_vlm_then_rerun_skips(split, tiny_qwen):
    from hmworld.cli.caption import caption as caption_task

    overrides = [f"split={split}", "captioner=vlm", f"captioner.model={tiny_qwen}", "captioner.max_new_tokens=8",
                 "captioner.min_new_tokens=2", "captioner.num_frames=2", "batch_size=3", "progress=false"]
    caption_task(caption_config(*overrides))
    manifest = pd.read_parquet(split / "manifest.parquet")
    assert set(manifest.caption_source) == {"vlm:tiny-qwen2-vl"}
    lines = (split / "captions.txt").read_text().splitlines()
    assert [ln.split("\t", 1)[1] for ln in lines] == [" ".join(c.split()) for c in manifest.caption]
    first = list(manifest.caption)
    report = recaption_split(split, build_captioner({"name": "vlm", "model": str(tiny_qwen)}))
    assert (report.captioned, report.skipped) == (0, 3)  # resolved, never loaded: nothing to do
    assert list(pd.read_parquet(split / "manifest.parquet").caption) == first


def test_render_with_the_tiny_vlm_captioner(tmp_path, tiny_qwen):
    from hmworld.render_job import run_render

    out = tmp_path / "rendered"
    report = run_render(render_config(f"out={out}", "num_clips=2", "seed=7", *TINY_VIDEO, "progress=false",
                                      "captioner=vlm", f"captioner.model={tiny_qwen}", "captioner.max_new_tokens=6",
                                      "captioner.min_new_tokens=2", "captioner.num_frames=2"))
    assert report.written == 2
    manifest = pd.read_parquet(out / "manifest.parquet")
    assert set(manifest.caption_source) == {"vlm:tiny-qwen2-vl"} and all(manifest.caption.str.len() > 0)
    assert len((out / "captions.txt").read_text().splitlines()) == 2


def test_minicpm_remote_code_path_loads_the_checkpoint_code_and_calls_chat(standin_minicpm, requests):
    import torch

    cap = build_captioner({"name": "minicpm", "model": str(standin_minicpm), "num_frames": 5, "batch_size": 2})
    texts = cap.caption(requests)
    assert cap.backend == "remote_code"
    assert type(cap.model).__module__.startswith("transformers_modules")  # the folder's own modeling code
    assert cap.model.proj.weight.dtype == torch.bfloat16
    assert [c["batch"] for c in cap.model.calls] == [2, 1]  # batched over clips
    call = cap.model.calls[0]
    assert call["sampling"] is False and call["num_beams"] == 3 and call["use_image_id"] is False
    assert call["max_slice_nums"] == 1 and call["repetition_penalty"] == 1.2
    assert all(t.startswith("A stand-in caption from 5 frames 64x48") and "\n" not in t for t in texts)
    assert cap.caption(requests) == texts
    assert cap.name == "minicpm:standin-minicpm-v"
    cap.close()


def test_minicpm_refuses_remote_code_when_not_trusted(standin_minicpm, requests):
    cap = build_captioner({"name": "minicpm", "model": str(standin_minicpm), "trust_remote_code": False})
    with pytest.raises(CaptionerError, match="trust_remote_code=false forbids"):
        cap.caption(requests[:1])


def test_minicpm_v46_native_model_is_captioned_through_the_generic_path(tmp_path_factory, requests):
    # MiniCPM-V 4.6 is implemented by transformers itself (model_type minicpmv4_6): no remote code runs.
    import torch
    from tests.hmworld.captioners.models import build_tiny_minicpmv46

    folder = build_tiny_minicpmv46(tmp_path_factory.mktemp("models") / "tiny-minicpm-v-4_6")
    cap = build_captioner({"name": "minicpm", "model": str(folder), "batch_size": 2, **FAST})
    texts = cap.caption(requests)
    assert cap.backend == "native"
    assert type(cap.model).__name__ == "MiniCPMV4_6ForConditionalGeneration"
    assert cap.model.dtype == torch.bfloat16
    assert len(texts) == 3 and all(texts) and cap.caption(requests) == texts
    assert cap.generation_config().num_beams == 3  # the minicpm defaults: deterministic beam search
    assert cap.name == "minicpm:tiny-minicpm-v-4_6"
    cap.close()


def test_vlm_refuses_a_remote_code_checkpoint_with_a_hint(standin_minicpm, requests):
    cap = build_captioner({"name": "vlm", "model": str(standin_minicpm)})
    with pytest.raises(CaptionerError, match="captioner=minicpm"):
        cap.caption(requests[:1])
