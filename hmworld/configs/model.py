"""The model config (`model=tiny|wan_1_3b`, render_configs/model/) as typed dataclasses: the schema every model
preset extends, and the one place its keys and their defaults are defined.

Hydra validates the presets and the command line against it (a misspelled key is an error); library code reads
the typed fields of `as_model_config(cfg)`, which accepts what Hydra composed as well as the plain dict a
checkpoint stores (older checkpoints lack keys added since: they take the defaults here). No torch import: the
commands register this schema before they parse their arguments.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Dict, List, Optional

from omegaconf import DictConfig, OmegaConf


@dataclass
class TransformerConfig:
    pretrained: Optional[str] = None  # Wan transformer weights (folder or hub id); null: random init of `config`
    subfolder: Optional[str] = None  # inside `pretrained` (e.g. transformer)
    hydra_checkpoint: Optional[str] = None  # released HyDRA weights (.safetensors) loaded over the init
    dtype: str = "float32"  # master weights' dtype
    # HyDRATransformer3DModel constructor arguments (patch_size, num_layers, retrieval_mode, top_k, window_size,
    # memory_kernel, ...): the diffusers model's own config, checked by its constructor
    config: Dict[str, Any] = field(default_factory=dict)


@dataclass
class VAEFitConfig:
    max_patches: int = 100_000  # patches of each kind (first frame, 4-frame group) drawn for the fit
    holdout_fraction: float = 0.2  # clips left out of the fit; their reconstruction PSNR is reported
    seed: int = 0  # which patches and which clips are held out


@dataclass
class VAEConfig:
    kind: str = "wan"  # wan: AutoencoderKLWan | patch_pca: linear patch autoencoder fitted by `hmworld cache`
    channels: int = 16  # patch_pca: latent channels
    normalise: str = "channel"  # patch_pca: channel (every latent channel variance 1) | global (one scale)
    file: Optional[str] = None  # patch_pca: an autoencoder fitted elsewhere; null: <cache>/autoencoder-pca-<key>
    fit: VAEFitConfig = field(default_factory=VAEFitConfig)  # patch_pca: how `hmworld cache` fits it
    pretrained: Optional[str] = None  # wan: AutoencoderKLWan weights (folder or hub id)
    subfolder: Optional[str] = None  # wan: inside `pretrained` (e.g. vae)
    config: Optional[Dict[str, Any]] = None  # wan without `pretrained`: AutoencoderKLWan arguments, random init
    seed: int = 0  # wan with `config`: the random init's seed
    dtype: str = "float32"


@dataclass
class TextEncoderConfig:
    kind: str = "umt5"  # umt5 (transformers UMT5EncoderModel) | hashed (weightless word hashes, CPU smoke runs)
    pretrained: Optional[str] = None  # umt5: folder or hub id with UMT5EncoderModel weights
    subfolder: Optional[str] = None  # umt5: inside `pretrained` (e.g. text_encoder)
    tokenizer: Optional[str] = None  # umt5: tokenizer folder or hub id; null: `pretrained`
    tokenizer_subfolder: Optional[str] = None
    dtype: str = "bfloat16"  # umt5 only (bf16 even on CPU)
    dim: int = 4096  # embedding width (= transformer.config.text_dim)
    max_length: int = 512  # tokens per caption
    vocab: int = 4096  # hashed: buckets
    seed: int = 0  # hashed: the embedding table's seed


@dataclass
class DataConfig:
    height: Optional[int] = None  # null: the split's size (a multiple of 16); else resize + centre-crop
    width: Optional[int] = None


@dataclass
class RecipeConfig:
    """Defaults of `hmworld train` (train.*, optim.*) that belong to the model."""

    trainable: str = "all"  # all | hydra (camera encoders, projector, self-attention incl. the memory tokenizer)
    caption_dropout: float = 0.1  # probability of training a sample without its caption (for guidance)
    lr: float = 1.0e-3
    warmup_steps: int = 10
    gradient_checkpointing: bool = False


@dataclass
class SamplerConfig:
    """Defaults of `hmworld generate`."""

    steps: int = 20  # Euler steps
    shift: float = 5.0  # schedule shift
    guidance: float = 3.0  # classifier-free guidance scale, 1 = off


@dataclass
class ModelConfig:
    name: str = "hydra"  # recorded in submissions (submission.yaml `model`)
    root: Optional[str] = None  # wan_1_3b: the Wan2.1 Diffusers folder or repo id the parts point into
    transformer: TransformerConfig = field(default_factory=TransformerConfig)
    vae: VAEConfig = field(default_factory=VAEConfig)
    text_encoder: TextEncoderConfig = field(default_factory=TextEncoderConfig)
    data: DataConfig = field(default_factory=DataConfig)
    recipe: RecipeConfig = field(default_factory=RecipeConfig)
    sampler: SamplerConfig = field(default_factory=SamplerConfig)


def as_model_config(cfg: Any) -> ModelConfig:
    """A `ModelConfig` from a ModelConfig, a composed `model` node or a checkpoint's plain dict (missing keys
    take their defaults; an unknown key is an error naming it)."""
    if isinstance(cfg, ModelConfig):
        return cfg
    from omegaconf.errors import OmegaConfBaseException

    from hmworld.errors import ConfigError

    try:
        if isinstance(cfg, DictConfig):
            cfg = OmegaConf.to_container(cfg, resolve=True)
        return OmegaConf.to_object(OmegaConf.merge(OmegaConf.structured(ModelConfig), cfg or {}))
    except OmegaConfBaseException as exc:
        raise ConfigError(f"model config: {str(exc).strip().splitlines()[0]}") from exc


def model_dict(cfg: Any) -> dict:
    """The plain dict of a model config (as checkpoints store it)."""
    return OmegaConf.to_container(OmegaConf.structured(as_model_config(cfg)))


SCHEMAS: List[tuple] = []  # no group schema: commands type their `model` field as ModelConfig
