"""Tiny random-initialised vision-language models of real transformers classes, built offline.

Nothing is downloaded: the tokenizer is a character-level WordLevel model made with the `tokenizers` library
(the special tokens the processor needs added as whole tokens), the image processor comes from its class
defaults (with a small pixel budget), and the model from a config with tiny sizes. `save_pretrained` writes the
same files a hub checkpoint has (config.json, model.safetensors, tokenizer, processor_config.json, chat
template), so the captioners load it through exactly the code they use for real weights.
"""
from __future__ import annotations

from pathlib import Path

# Qwen2-VL's chat format (the special tokens are the real model's); images become
# <|vision_start|><|image_pad|><|vision_end|>, which the processor expands to one pad per merged patch.
QWEN2_VL_TEMPLATE = (
    "{% for m in messages %}<|im_start|>{{ m['role'] }}\n"
    "{% if m['content'] is string %}{{ m['content'] }}{% else %}{% for c in m['content'] %}"
    "{% if c['type'] == 'image' %}<|vision_start|><|image_pad|><|vision_end|>"
    "{% elif c['type'] == 'text' %}{{ c['text'] }}{% endif %}{% endfor %}{% endif %}<|im_end|>\n{% endfor %}"
    "{% if add_generation_prompt %}<|im_start|>assistant\n{% endif %}"
)
QWEN2_VL_SPECIAL = ["<|endoftext|>", "<|im_start|>", "<|im_end|>", "<|vision_start|>", "<|vision_end|>",
                    "<|image_pad|>", "<|video_pad|>"]


def char_tokenizer(special: list[str], pad: str, eos: str):
    """A character-level fast tokenizer: every printable ASCII character is a token, specials are atomic."""
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers
    from transformers import PreTrainedTokenizerFast

    chars = [chr(c) for c in range(32, 127)] + ["\n"]
    vocab = {t: i for i, t in enumerate(special + chars)}
    tok = Tokenizer(models.WordLevel(vocab, unk_token=pad))
    tok.pre_tokenizer = pre_tokenizers.Split("", "isolated")  # one token per character
    tok.decoder = decoders.Fuse()  # join characters back without separators
    return PreTrainedTokenizerFast(tokenizer_object=tok, pad_token=pad, eos_token=eos,
                                   additional_special_tokens=[s for s in special if s not in (pad, eos)]), vocab


def build_tiny_qwen2_vl(folder: Path, seed: int = 0) -> Path:
    """A ~100k-parameter Qwen2VLForConditionalGeneration with its Qwen2VLProcessor, saved to `folder`."""
    from transformers import (Qwen2VLConfig, Qwen2VLForConditionalGeneration, Qwen2VLImageProcessor,
                              Qwen2VLProcessor, Qwen2VLVideoProcessor)

    tokenizer, vocab = char_tokenizer(QWEN2_VL_SPECIAL, pad="<|endoftext|>", eos="<|im_end|>")
    # A small pixel budget keeps the number of visual tokens per frame small (a 64x48 frame -> 2x2 merged).
    images = Qwen2VLImageProcessor(min_pixels=28 * 28, max_pixels=56 * 56)
    processor = Qwen2VLProcessor(image_processor=images, tokenizer=tokenizer, video_processor=Qwen2VLVideoProcessor(),
                                 chat_template=QWEN2_VL_TEMPLATE)
    eos, pad = vocab["<|im_end|>"], vocab["<|endoftext|>"]
    config = Qwen2VLConfig(
        text_config=dict(vocab_size=len(vocab), hidden_size=32, intermediate_size=64, num_hidden_layers=2,
                         num_attention_heads=4, num_key_value_heads=2, max_position_embeddings=2048,
                         rope_scaling={"type": "mrope", "mrope_section": [1, 1, 2]},
                         bos_token_id=pad, eos_token_id=eos, pad_token_id=pad),
        vision_config=dict(depth=2, embed_dim=32, hidden_size=32, num_heads=4, mlp_ratio=2, patch_size=14,
                           spatial_merge_size=2, temporal_patch_size=2, in_channels=3),
        image_token_id=vocab["<|image_pad|>"], video_token_id=vocab["<|video_pad|>"],
        vision_start_token_id=vocab["<|vision_start|>"], vision_end_token_id=vocab["<|vision_end|>"],
        bos_token_id=pad, eos_token_id=eos, pad_token_id=pad,
    )
    return _save_random(folder, Qwen2VLForConditionalGeneration, config, processor, seed, eos, pad)


# ------------------------------------------------------------------------------------------------------------
# A stand-in for a MiniCPM-V remote-code checkpoint. MiniCPM-V's own modeling code and weights cannot be fetched
# here, so this folder ships a tiny model class of its own through the same mechanism (config.json `auto_map`
# pointing at Python files in the folder, loaded by transformers with trust_remote_code), with a `chat()` of
# MiniCPM-V's signature that checks the batched-call conventions MiniCPM-V's chat() relies on and answers from
# a real (tiny) forward pass over the frames, so the text depends on the pixels and the prompt.
STANDIN_CONFIG = '''
from transformers import PretrainedConfig


class StandInMiniCPMVConfig(PretrainedConfig):
    model_type = "hmworld_standin_minicpmv"

    def __init__(self, hidden_size=8, **kwargs):
        self.hidden_size = hidden_size
        super().__init__(**kwargs)
'''

STANDIN_MODELING = '''
import numpy as np
import torch
from PIL import Image
from transformers import PreTrainedModel, PreTrainedTokenizerBase

from .configuration_standin import StandInMiniCPMVConfig


class StandInMiniCPMV(PreTrainedModel):
    config_class = StandInMiniCPMVConfig
    _supports_sdpa = True  # as MiniCPM-V, which the captioner loads with attn_implementation="sdpa"

    def __init__(self, config):
        super().__init__(config)
        self.proj = torch.nn.Linear(3, config.hidden_size)
        self.calls = []
        self.post_init()

    def chat(self, image, msgs, tokenizer, processor=None, vision_hidden_states=None, max_new_tokens=2048,
             min_new_tokens=0, sampling=True, max_inp_length=8192, system_prompt="", stream=False,
             max_slice_nums=None, use_image_id=None, **kwargs):
        # MiniCPM-V's chat(): a batch is a list of conversations and then `image` must be None.
        if not isinstance(msgs[0], list) or image is not None:
            raise AssertionError("batched chat() needs msgs as a list of conversations and image=None")
        if not isinstance(tokenizer, PreTrainedTokenizerBase):
            raise AssertionError(f"tokenizer is {type(tokenizer)}")
        self.calls.append(dict(kwargs, batch=len(msgs), sampling=sampling, max_new_tokens=max_new_tokens,
                               max_slice_nums=max_slice_nums, use_image_id=use_image_id, system_prompt=system_prompt,
                               dtype=str(self.proj.weight.dtype), device=str(self.proj.weight.device)))
        answers = []
        for conversation in msgs:
            (turn,) = conversation
            if turn["role"] != "user":
                raise AssertionError(f"role {turn['role']}")
            frames = [c for c in turn["content"] if isinstance(c, Image.Image)]
            texts = [c for c in turn["content"] if isinstance(c, str)]
            if len(texts) != 1 or turn["content"][-1] is not texts[0] or len(frames) != len(turn["content"]) - 1:
                raise AssertionError("content must be the frames, then the prompt")
            colours = np.stack([np.asarray(f.convert("RGB"), np.float32).reshape(-1, 3).mean(0) / 255 for f in frames])
            with torch.no_grad():
                feature = self.proj(torch.from_numpy(colours).to(self.proj.weight.dtype)).float().abs().sum().item()
            tokens = len(tokenizer(texts[0]).input_ids)
            answers.append(f"A stand-in caption from {len(frames)} frames {frames[0].size[0]}x{frames[0].size[1]}, "
                           f"feature {feature:.3f}, prompt of {tokens} tokens.\\n")
        return answers
'''


def build_standin_minicpm(folder: Path, seed: int = 0) -> Path:
    """A folder laid out like a MiniCPM-V remote-code checkpoint (auto_map, modeling/config code, weights,
    tokenizer), holding the stand-in model above."""
    import json

    import torch
    from transformers import AutoConfig, AutoModel

    folder.mkdir(parents=True, exist_ok=True)
    (folder / "configuration_standin.py").write_text(STANDIN_CONFIG)
    (folder / "modeling_standin.py").write_text(STANDIN_MODELING)
    (folder / "config.json").write_text(json.dumps({
        "model_type": "hmworld_standin_minicpmv", "hidden_size": 8,
        "auto_map": {"AutoConfig": "configuration_standin.StandInMiniCPMVConfig",
                     "AutoModel": "modeling_standin.StandInMiniCPMV"},
    }))
    tokenizer, _ = char_tokenizer(["<unk>", "<|im_end|>"], pad="<unk>", eos="<|im_end|>")
    tokenizer.save_pretrained(folder)
    config = AutoConfig.from_pretrained(folder, trust_remote_code=True)
    torch.manual_seed(seed)
    model = AutoModel.from_config(config, trust_remote_code=True)
    model.save_pretrained(folder)
    return folder


# ------------------------------------------------------------------------------------------------------------
# MiniCPM-V 4.6, which transformers implements natively (model_type minicpmv4_6): `captioner=minicpm` takes the
# generic image-text-to-text path for it. Token strings are our own; the processor only needs them distinct.
MINICPMV46_NAMED = {"image_token": "<|image_pad|>", "video_token": "<|video_pad|>", "image_start_token": "<image>",
                    "image_end_token": "</image>", "slice_start_token": "<slice>", "slice_end_token": "</slice>",
                    "image_id_start_token": "<image_id>", "image_id_end_token": "</image_id>"}
MINICPMV46_TEMPLATE = QWEN2_VL_TEMPLATE.replace("<|vision_start|><|image_pad|><|vision_end|>", "<|image_pad|>")


def build_tiny_minicpmv46(folder: Path, seed: int = 0) -> Path:
    """A ~130k-parameter MiniCPMV4_6ForConditionalGeneration (Qwen3.5 text model, full attention only) with
    its MiniCPMV4_6Processor, saved to `folder`."""
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers
    from transformers import PreTrainedTokenizerFast
    from transformers.models.minicpmv4_6 import (MiniCPMV4_6Config, MiniCPMV4_6ForConditionalGeneration,
                                                 MiniCPMV4_6Processor)
    from transformers.models.minicpmv4_6.image_processing_minicpmv4_6 import MiniCPMV4_6ImageProcessor
    from transformers.models.minicpmv4_6.video_processing_minicpmv4_6 import MiniCPMV4_6VideoProcessor

    special = ["<|endoftext|>", "<|im_start|>", "<|im_end|>", *MINICPMV46_NAMED.values()]
    vocab = {t: i for i, t in enumerate(special + [chr(c) for c in range(32, 127)] + ["\n"])}
    tok = Tokenizer(models.WordLevel(vocab, unk_token="<|endoftext|>"))
    tok.pre_tokenizer = pre_tokenizers.Split("", "isolated")
    tok.decoder = decoders.Fuse()
    # extra_special_tokens gives the tokenizer the named attributes (image_token, slice_start_token, ...) the
    # MiniCPM-V processor reads.
    tokenizer = PreTrainedTokenizerFast(tokenizer_object=tok, pad_token="<|endoftext|>", eos_token="<|im_end|>",
                                        additional_special_tokens=special[1:], extra_special_tokens=MINICPMV46_NAMED)
    # One 56x56 view per frame, no slices: a handful of visual tokens per frame.
    images = MiniCPMV4_6ImageProcessor(scale_resolution=56, max_slice_nums=1, slice_mode=False, use_image_id=False)
    processor = MiniCPMV4_6Processor(image_processor=images, video_processor=MiniCPMV4_6VideoProcessor(),
                                     tokenizer=tokenizer, chat_template=MINICPMV46_TEMPLATE)
    eos, pad = vocab["<|im_end|>"], vocab["<|endoftext|>"]
    config = MiniCPMV4_6Config(
        text_config=dict(model_type="qwen3_5_text", vocab_size=len(vocab), hidden_size=32, intermediate_size=64,
                         num_hidden_layers=2, num_attention_heads=4, num_key_value_heads=2, head_dim=8,
                         layer_types=["full_attention", "full_attention"], max_position_embeddings=2048,
                         eos_token_id=eos, pad_token_id=pad, bos_token_id=pad),
        vision_config=dict(hidden_size=32, intermediate_size=64, num_hidden_layers=2, num_attention_heads=4,
                           image_size=56, patch_size=14),
        insert_layer_id=0, image_size=56, image_token_id=vocab["<|image_pad|>"], video_token_id=vocab["<|video_pad|>"],
    )
    return _save_random(folder, MiniCPMV4_6ForConditionalGeneration, config, processor, seed, eos, pad)


def _save_random(folder, model_class, config, processor, seed, eos, pad):
    """A random-initialised model of the real class (seeded), saved beside its processor as a local model folder."""
    import torch

    torch.manual_seed(seed)
    model = model_class(config).eval()
    model.generation_config.eos_token_id, model.generation_config.pad_token_id = eos, pad
    folder.mkdir(parents=True, exist_ok=True)
    model.save_pretrained(folder)
    processor.save_pretrained(folder)
    return folder
