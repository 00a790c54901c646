"""`captioner=vlm`: any transformers vision-language model with the generic image-text-to-text classes.

AutoProcessor + AutoModelForImageTextToText (Qwen2-VL / Qwen2.5-VL, SmolVLM, Idefics3, LLaVA, MiniCPM-V 4.6+,
...), no remote code by default. Each clip is shown as `num_frames` frames sampled uniformly across it (as
separate images: every image-text-to-text model accepts those, only some accept video input) followed by the
HM-World prompt; clips are batched (left padding), decoding is greedy or beam search, never sampling, so the
same clip, model and batch give the same caption on every run.

torch and transformers are imported only when a captioner is built, so `captioner=template` needs neither.
"""
from __future__ import annotations

import copy
from pathlib import Path
from typing import Any, Sequence

from hmworld.captioners.base import CaptionRequest, Captioner
from hmworld.captioners.prompt import build_prompt, chunks, clean_model_reply, load_frames
from hmworld.captioners.weights import ModelSource, resolve_model
from hmworld.devices import DTYPE_NAMES, load_triton_first, select_device, torch_dtype
from hmworld.errors import HMWorldError


class CaptionerError(HMWorldError):
    """A vision-language captioner could not load its model or caption a clip."""


def resolve_device(device: str | None) -> str:
    import torch

    device = select_device(device)
    if device.startswith("cuda") and not torch.cuda.is_available():
        raise CaptionerError(f"captioner device={device} but torch sees no CUDA device; use device=cpu or auto")
    return device


def resolve_dtype(dtype: str | None):
    """bf16 by default on CPU and GPU alike: 8B captioners do not fit 24 GiB in fp32, and bf16 matmuls run on
    current CPUs. 'auto' keeps the checkpoint's own dtype."""
    name = str(dtype or "bfloat16")
    if name != "auto" and name not in DTYPE_NAMES:
        raise CaptionerError(f"captioner dtype={name!r}; choose one of {sorted(DTYPE_NAMES) + ['auto']}")
    return "auto" if name == "auto" else torch_dtype(name)


def dtype_kwarg(dtype) -> dict:
    """transformers renamed `torch_dtype` to `dtype` (4.56); pass whichever this version understands."""
    import transformers
    from packaging.version import Version

    key = "dtype" if Version(transformers.__version__) >= Version("4.56") else "torch_dtype"
    return {key: dtype}


def read_model_config(folder: Path) -> dict:
    import json

    try:
        return json.loads((folder / "config.json").read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise CaptionerError(f"cannot read {folder / 'config.json'}: {exc}") from exc


class TransformersCaptioner(Captioner):
    """Shared by `vlm` and `minicpm`: model resolution, lazy loading, frame sampling, batching, the prompt.

    The constructor only resolves where the weights are (fast, and it raises the offline error before a render
    starts); the model itself is loaded on the first `caption()` call, so a run with nothing left to caption
    never pays for loading it.
    """

    kind = "vlm"

    def __init__(self, model: str, revision: str | None = None, device: str = "auto", dtype: str = "bfloat16",
                 num_frames: int = 8, frame_max_side: int | None = None, batch_size: int = 4,
                 max_new_tokens: int = 256, min_new_tokens: int | None = None, num_beams: int = 1,
                 repetition_penalty: float | None = None, metadata_hints: bool = True, prompt: str | None = None,
                 system_prompt: str | None = None, trust_remote_code: bool = False,
                 attn_implementation: str | None = None, processor_kwargs: dict | None = None,
                 model_kwargs: dict | None = None, source_name: str | None = None, allow_download: bool | None = None,
                 seed: int = 0):
        if int(num_frames) < 1 or int(batch_size) < 1 or int(max_new_tokens) < 1 or int(num_beams) < 1:
            raise CaptionerError(f"captioner {self.kind}: num_frames, batch_size, max_new_tokens and num_beams must "
                                 f"be >= 1 (got {num_frames}, {batch_size}, {max_new_tokens}, {num_beams})")
        resolve_dtype(dtype)  # validate now, not after a render has started
        self.source: ModelSource = resolve_model(str(model), self.kind, revision, allow_download)
        load_triton_first()  # the render job may render after this: see hmworld.devices; after the cheap checks
        self.name = str(source_name) if source_name else f"{self.kind}:{self.source.model_id}"
        self.device_name, self.dtype_name = device, dtype
        self.num_frames, self.frame_max_side = int(num_frames), frame_max_side
        self.batch_size, self.max_new_tokens = int(batch_size), int(max_new_tokens)
        self.min_new_tokens, self.num_beams = min_new_tokens, int(num_beams)
        self.repetition_penalty = repetition_penalty
        self.metadata_hints, self.prompt_template, self.system_prompt = bool(metadata_hints), prompt, system_prompt
        self.trust_remote_code, self.attn_implementation = bool(trust_remote_code), attn_implementation
        self.processor_kwargs = dict(processor_kwargs or {})
        self.model_kwargs = dict(model_kwargs or {})
        self.seed = int(seed)
        self.model = self.processor = None
        self.device = None

    # ----------------------------------------------------------------------------------------- public
    def caption(self, requests: Sequence[CaptionRequest]) -> list[str]:
        if not requests:
            return []
        self.ensure_loaded()
        out: list[str] = []
        for batch in chunks(list(requests), self.batch_size):
            frames = [self.frames_for(r) for r in batch]
            prompts = [self.prompt_for(r, len(f)) for r, f in zip(batch, frames)]
            texts = self.generate(frames, prompts)
            for r, text in zip(batch, texts):
                text = clean_model_reply(text)
                if not text:
                    raise CaptionerError(f"captioner {self.name} returned an empty caption for clip {r.clip_id}")
                out.append(text)
        return out

    def close(self) -> None:
        self.model = self.processor = None
        try:
            import torch

            if torch.cuda.is_available():
                torch.cuda.empty_cache()
        except ImportError:
            pass

    # ------------------------------------------------------------------------------------ the pieces
    def frames_for(self, request: CaptionRequest) -> list:
        if request.video_path is None:
            raise CaptionerError(f"captioner {self.name} needs the video of clip {request.clip_id} (no video_path)")
        return load_frames(request.video_path, self.num_frames, self.frame_max_side)

    def prompt_for(self, request: CaptionRequest, num_frames: int) -> str:
        return build_prompt(request, num_frames, self.metadata_hints, self.prompt_template)

    def ensure_loaded(self) -> None:
        if self.model is None:
            self.device = resolve_device(self.device_name)
            self.load()

    def load_kwargs(self) -> dict:
        kwargs: dict[str, Any] = {**dtype_kwarg(resolve_dtype(self.dtype_name)), **self.model_kwargs}
        if self.trust_remote_code:
            kwargs["trust_remote_code"] = True
        if self.attn_implementation:
            kwargs["attn_implementation"] = self.attn_implementation
        return kwargs

    def load(self) -> None:
        from transformers import AutoModelForImageTextToText, AutoProcessor

        folder = self.source.folder
        config = read_model_config(folder)
        try:
            processor = AutoProcessor.from_pretrained(folder, trust_remote_code=self.trust_remote_code)
            model = AutoModelForImageTextToText.from_pretrained(folder, **self.load_kwargs())
        except (ValueError, KeyError, OSError) as exc:
            hint = (" It ships remote code (auto_map): for MiniCPM-V use captioner=minicpm, otherwise set "
                    "captioner.trust_remote_code=true if you trust it." if "auto_map" in config else "")
            raise CaptionerError(f"captioner {self.kind}: cannot load {folder} (model_type "
                                 f"{config.get('model_type')!r}) as an image-text-to-text model: {exc}.{hint}") from exc
        self.model = model.to(self.device).eval()
        self.processor = processor
        tokenizer = getattr(processor, "tokenizer", None)
        if tokenizer is None:
            raise CaptionerError(f"captioner {self.kind}: the processor in {folder} has no tokenizer")
        # Decoder-only generation over a batch: pad on the left so every prompt ends where generation starts.
        tokenizer.padding_side = "left"
        if getattr(processor, "chat_template", None) is None and getattr(tokenizer, "chat_template", None) is None:
            raise CaptionerError(f"captioner {self.kind}: {folder} has no chat template (chat_template.jinja or "
                                 "chat_template.json); an instruction-tuned model is needed")

    def messages(self, num_frames: int, prompt: str) -> list[dict]:
        content = [{"type": "image"} for _ in range(num_frames)] + [{"type": "text", "text": prompt}]
        msgs = [{"role": "user", "content": content}]
        if self.system_prompt:
            msgs.insert(0, {"role": "system", "content": [{"type": "text", "text": self.system_prompt}]})
        return msgs

    def generation_config(self):
        """The model's own generation defaults with sampling switched off: greedy (num_beams=1) or beam search."""
        cfg = copy.deepcopy(self.model.generation_config)
        cfg.do_sample = False
        # Sampling-only settings would be ignored anyway; clearing them avoids transformers' warnings about them.
        cfg.temperature, cfg.top_p, cfg.top_k = None, None, None
        cfg.num_beams = self.num_beams
        cfg.max_new_tokens = self.max_new_tokens
        if self.min_new_tokens:
            cfg.min_new_tokens = int(self.min_new_tokens)
        if self.repetition_penalty:
            cfg.repetition_penalty = float(self.repetition_penalty)
        if cfg.pad_token_id is None:
            tok = self.processor.tokenizer
            cfg.pad_token_id = tok.pad_token_id if tok.pad_token_id is not None else tok.eos_token_id
        return cfg

    def generate(self, frames: list[list], prompts: list[str]) -> list[str]:
        import torch

        texts = [self.processor.apply_chat_template(self.messages(len(f), p), add_generation_prompt=True,
                                                    tokenize=False) for f, p in zip(frames, prompts)]
        inputs = self.processor(text=texts, images=frames, return_tensors="pt", padding=True, **self.processor_kwargs)
        # Floating inputs (pixel values) follow the model's dtype; integer ids and masks keep theirs.
        inputs = inputs.to(self.device).to(self.model.dtype)
        torch.manual_seed(self.seed)  # greedy/beam decoding draws nothing, but remote code might
        with torch.inference_mode():
            out = self.model.generate(**inputs, generation_config=self.generation_config())
        new_tokens = out[:, inputs["input_ids"].shape[1]:]
        return self.processor.batch_decode(new_tokens, skip_special_tokens=True)


class VLMCaptioner(TransformersCaptioner):
    kind = "vlm"
