"""`captioner=minicpm`: MiniCPM-V, the model family that wrote the original HM-World captions.

Two ways in, picked from the checkpoint's config.json (`backend: auto`):

* remote code (`auto_map` in config.json: MiniCPM-V 2.6, 4.0, 4.5, MiniCPM-o 2.6): the Python files shipped with
  the checkpoint are loaded with trust_remote_code (AutoModel + AutoTokenizer + AutoProcessor) and the model's
  own `chat()` is called with a batch of conversations, each user turn being the sampled frames followed by the
  prompt, `sampling=False` (deterministic beam search), `use_image_id=False` and a small `max_slice_nums`, as
  the model card recommends for video frames.
* native (a `model_type` transformers implements itself, e.g. `minicpmv4_6`, `minicpmv4_7`): the generic
  image-text-to-text path of `captioner=vlm`, no remote code.

Everything else (weights resolution and its offline error, uniform frame sampling, the HM-World prompt, batching,
bf16 on CPU and GPU) is shared with `captioner=vlm`.
"""
from __future__ import annotations

from typing import Any

from hmworld.captioners.vlm import CaptionerError, TransformersCaptioner, read_model_config

BACKENDS = ("auto", "remote_code", "native")


def native_model_types() -> set[str]:
    """model_types transformers itself maps to an image-text-to-text class."""
    from transformers.models.auto.modeling_auto import MODEL_FOR_IMAGE_TEXT_TO_TEXT_MAPPING_NAMES

    return set(MODEL_FOR_IMAGE_TEXT_TO_TEXT_MAPPING_NAMES)


def choose_backend(config: dict, backend: str, native_types: set[str]) -> str:
    """Native when transformers knows the model_type (no foreign code runs); remote code when the checkpoint
    ships it; an error naming both otherwise."""
    if backend not in BACKENDS:
        raise CaptionerError(f"captioner minicpm: backend={backend!r}; choose one of {list(BACKENDS)}")
    model_type, has_code = config.get("model_type"), "auto_map" in config
    if backend == "native" or (backend == "auto" and model_type in native_types):
        if model_type not in native_types:
            raise CaptionerError(f"captioner minicpm: backend=native but transformers has no image-text-to-text "
                                 f"class for model_type {model_type!r}")
        return "native"
    if not has_code:
        raise CaptionerError(f"captioner minicpm: model_type {model_type!r} is neither implemented by this "
                             "transformers version nor shipped as remote code (no auto_map in config.json)")
    return "remote_code"


def chat_messages(frames: list[list], prompts: list[str]) -> list[list[dict]]:
    """MiniCPM-V's batched `chat()` input: one conversation per clip, its single user turn holding the frames
    (PIL images) and then the instruction, in the order the model reads them."""
    if len(frames) != len(prompts):
        raise CaptionerError(f"captioner minicpm: {len(frames)} frame lists for {len(prompts)} prompts")
    return [[{"role": "user", "content": [*f, p]}] for f, p in zip(frames, prompts)]


class MiniCPMCaptioner(TransformersCaptioner):
    kind = "minicpm"

    def __init__(self, model: str = "openbmb/MiniCPM-V-4_5", backend: str = "auto", max_slice_nums: int = 1,
                 num_frames: int = 16, num_beams: int = 3, repetition_penalty: float | None = 1.2,
                 trust_remote_code: bool = True, attn_implementation: str | None = "sdpa", **options: Any):
        if backend not in BACKENDS:
            raise CaptionerError(f"captioner minicpm: backend={backend!r}; choose one of {list(BACKENDS)}")
        super().__init__(model=model, num_frames=num_frames, num_beams=num_beams,
                         repetition_penalty=repetition_penalty, trust_remote_code=trust_remote_code,
                         attn_implementation=attn_implementation, **options)
        self.backend_name, self.max_slice_nums = backend, int(max_slice_nums)
        self.backend: str | None = None
        self.tokenizer = None

    def load(self) -> None:
        config = read_model_config(self.source.folder)
        self.backend = choose_backend(config, self.backend_name, native_model_types())
        if self.backend == "native":
            return super().load()
        if not self.trust_remote_code:
            raise CaptionerError(f"captioner minicpm: {self.source.folder} needs its own Python code (auto_map) "
                                 "and captioner.trust_remote_code=false forbids running it")
        from transformers import AutoModel, AutoProcessor, AutoTokenizer

        folder = self.source.folder
        try:
            model = AutoModel.from_pretrained(folder, **self.load_kwargs())
            self.tokenizer = AutoTokenizer.from_pretrained(folder, trust_remote_code=True)
        except (ValueError, KeyError, OSError, ImportError, AttributeError, TypeError) as exc:
            # Remote code is written against the transformers release of its day; say which one failed here.
            import transformers

            raise CaptionerError(f"captioner minicpm: cannot load the remote-code model in {folder} with "
                                 f"transformers {transformers.__version__}: {type(exc).__name__}: {exc}") from exc
        try:  # MiniCPM-V 2.6+ ships a processor; chat() would otherwise build one from config._name_or_path
            self.processor = AutoProcessor.from_pretrained(folder, trust_remote_code=True)
        except (ValueError, KeyError, OSError, ImportError, AttributeError, TypeError):
            self.processor = None
        if not callable(getattr(model, "chat", None)):
            raise CaptionerError(f"captioner minicpm: the model class {type(model).__name__} loaded from {folder} "
                                 "has no chat() method (not a MiniCPM-V checkpoint?)")
        self.model = model.to(self.device).eval()

    def chat_kwargs(self, frames: list[list], prompts: list[str]) -> dict:
        """Arguments for MiniCPM-V's `chat()`; sampling off (the chat default is on), so decoding is the
        deterministic beam search of the model card."""
        kwargs: dict[str, Any] = {
            "image": None, "msgs": chat_messages(frames, prompts), "tokenizer": self.tokenizer,
            "sampling": False, "max_new_tokens": self.max_new_tokens, "num_beams": self.num_beams,
            "max_slice_nums": self.max_slice_nums, "use_image_id": False,
        }
        if self.processor is not None:
            kwargs["processor"] = self.processor
        if self.repetition_penalty:
            kwargs["repetition_penalty"] = float(self.repetition_penalty)
        if self.min_new_tokens:
            kwargs["min_new_tokens"] = int(self.min_new_tokens)
        if self.system_prompt:
            kwargs["system_prompt"] = self.system_prompt
        return kwargs

    def generate(self, frames: list[list], prompts: list[str]) -> list[str]:
        if self.backend == "native":
            return super().generate(frames, prompts)
        import torch

        torch.manual_seed(self.seed)  # beam search draws nothing; remote code might
        with torch.inference_mode():
            answers = self.model.chat(**self.chat_kwargs(frames, prompts))
        if isinstance(answers, str):  # single-conversation form of chat()
            answers = [answers]
        answers = list(answers)
        if len(answers) != len(prompts):
            raise CaptionerError(f"captioner minicpm: chat() returned {len(answers)} answers for {len(prompts)} clips")
        return [a if isinstance(a, str) else str(a) for a in answers]
