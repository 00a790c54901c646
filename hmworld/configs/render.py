"""`hmworld render` and `hmworld caption`, the `renderer`, `captioner` and `partition` groups: typed schemas.

A rendered split's identity is its resolved config (hmworld.render_job.identity_config), so these fields keep
the order and the number types the YAML presets have always had: a range is `Range` (numbers kept as written,
`[50, 64]` stays two ints) rather than List[float], which would store 50.0 and change split.json's bytes.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Dict, List, Optional

from omegaconf import MISSING

Range = List[Any]  # [min, max]: a uniform distribution (numbers as written: part of the split's identity)


@dataclass
class PartitionConfig:
    name: str = MISSING  # train | test (render_configs/partition/): disjoint scenes and subjects
    scenes: List[str] = field(default_factory=list)  # scenes a split of this partition may use
    subjects: List[str] = field(default_factory=list)  # subjects it may use


@dataclass
class EmbeddedRendererConfig:
    """moderngl on a headless EGL context (Mesa llvmpipe on CPU, the GPU's EGL where present)."""

    name: str = "embedded"
    near: float = 0.1  # clip planes, metres
    far: float = 300.0
    # asset: skinned, animated, textured 0 A.D. models (CC-BY-SA 3.0 art from the asset cache, `hmworld assets`;
    # subjects.json boxes, the pre-filter and the pan timing follow the meshes; split.json records the art's
    # licence) | primitive: unions of boxes, spheres and cylinders (own geometry, no cache; quickest, for tests)
    subjects_style: str = "asset"
    # game: RGB drawn again 4x multisampled with an analytic daylight sky (Preetham et al. 1999) and sun shadows
    # (ids and depth from the single-sample pass: masks are basic's) | basic: one Lambert pass (~3x faster)
    quality: str = "game"
    # props: asset (0 A.D. terrain textures and tree, bush, rock, crate, cart and column meshes; placement and
    # occlusion follow the meshes' footprints; needs the asset cache) | primitive (boxes, cones and cylinders on
    # a procedural ground). hmworld/assets/scenery.py
    props_style: str = "asset"
    # where and how to run, not what is drawn (out of the split's identity): asset_cache=DIR (default
    # $HMWORLD_ASSET_CACHE or ~/.cache/hmworld/assets), and test hooks; add keys with +renderer.runtime.KEY=VALUE
    runtime: Dict[str, Any] = field(default_factory=dict)


@dataclass
class UnrealRuntimeConfig:
    """Where and how to reach the game: out of the split's identity."""

    host: str = "127.0.0.1"
    port: int = 9000  # a running game's UnrealCV port (ignored with `binary`: a free port is picked)
    binary: Optional[Any] = None  # packaged game to launch headless (path or argv list); null: connect
    launch_args: List[str] = field(default_factory=lambda: [
        "-RenderOffScreen", "-cvport={port}", "-nosound", "-unattended", "-NoVerifyGC"])
    log_dir: Optional[str] = None  # game logs (game-<n>.log per launch); null: a temporary folder
    connect_timeout_s: float = 120.0  # readiness: poll the connection until the game greets, up to this long
    request_timeout_s: float = 30.0  # a reply slower than this counts as a hung game
    level_timeout_s: float = 120.0  # level loads
    max_reconnects: int = 4  # reconnect (relaunch) tries per clip, exponential backoff between them
    backoff_s: float = 1.0
    backoff_max_s: float = 30.0


@dataclass
class UnrealRendererConfig:
    """Unreal Engine 5 through the UnrealCV plugin (ue_project/README.md)."""

    name: str = "unrealcv"
    camera_id: int = 1  # UnrealCV camera that captures (1: the FusionCameraActor each HMWorld level places)
    mask_tolerance: int = 3  # object-mask colour match, per channel (0-255)
    sky_depth_cm: float = 60000.0  # scene depth at or beyond this (cm) is sky: depth 0, as the embedded renderer
    # sent once per connection, so captures depend only on the frame's state (no motion blur, eye adaptation or
    # temporal anti-aliasing history)
    setup_commands: List[str] = field(default_factory=lambda: [
        "vrun r.MotionBlurQuality 0", "vrun r.EyeAdaptationQuality 0", "vrun r.AntiAliasingMethod 1"])
    runtime: UnrealRuntimeConfig = field(default_factory=UnrealRuntimeConfig)


@dataclass
class TemplateCaptionerConfig:
    """A fluent caption from the clip's metadata (scene, subjects, motions, camera)."""

    name: str = "template"


@dataclass
class VLMCaptionerConfig:
    """Any transformers vision-language model through AutoProcessor + AutoModelForImageTextToText."""

    name: str = "vlm"
    model: str = "Qwen/Qwen2-VL-2B-Instruct"  # a local folder (config.json + weights + processor) or a hub id
    revision: Optional[str] = None  # hub revision (branch, tag or commit) for a hub id
    device: str = "auto"  # auto (cuda when available, else cpu) | cpu | cuda | cuda:1 ...
    dtype: str = "bfloat16"  # bfloat16 | float16 | float32 | auto (the checkpoint's)
    num_frames: int = 8  # frames sampled uniformly across the clip (context and target halves)
    frame_max_side: Optional[int] = None  # shrink frames whose longer side exceeds this (pixels)
    batch_size: int = 4  # clips per generate() call
    max_new_tokens: int = 256
    min_new_tokens: Optional[int] = None
    num_beams: int = 1  # 1: greedy; >1: beam search. Never sampling: captions are deterministic
    repetition_penalty: Optional[float] = None
    metadata_hints: bool = True  # tell the model how many subjects there are and what they look like
    prompt: Optional[str] = None  # replaces the HM-World prompt; may use {num_frames} {scene} {subjects} {camera}
    system_prompt: Optional[str] = None
    trust_remote_code: bool = False  # run Python code shipped with the checkpoint (only for models you trust)
    attn_implementation: Optional[str] = None  # e.g. sdpa | flash_attention_2 | eager (null: transformers' choice)
    processor_kwargs: Dict[str, Any] = field(default_factory=dict)  # passed to the processor call
    model_kwargs: Dict[str, Any] = field(default_factory=dict)  # passed to from_pretrained
    source_name: Optional[str] = None  # recorded as caption_source (null: <name>:<hub id or folder name>)
    allow_download: Optional[bool] = None  # null: download a hub id unless offline (HF_HUB_OFFLINE, ...)
    seed: int = 0


@dataclass
class MiniCPMCaptionerConfig(VLMCaptionerConfig):
    """MiniCPM-V, as the original HM-World captions: remote-code checkpoints through their own chat()."""

    name: str = "minicpm"
    model: str = "openbmb/MiniCPM-V-4_5"
    num_frames: int = 16
    batch_size: int = 2  # clips per chat() call
    num_beams: int = 3  # deterministic beam search, as the model card's default
    repetition_penalty: Optional[float] = 1.2
    trust_remote_code: bool = True  # remote-code checkpoints run the Python files shipped with the weights
    attn_implementation: Optional[str] = "sdpa"
    backend: str = "auto"  # auto | remote_code | native (minicpmv4_6+ through the generic path)
    max_slice_nums: int = 1  # image slices per frame (the model card uses 1-2 for video frames)


@dataclass
class VideoConfig:
    width: int = 832
    height: int = 480
    fps: int = 15
    context_frames: int = 77
    target_frames: int = 77
    crf: int = 18  # H.264 quality (libx264, yuv420p)
    preset: str = "veryfast"


@dataclass
class CompositorConfig:
    subjects_per_clip: List[int] = field(default_factory=lambda: [1, 2, 3])
    subjects_per_clip_weights: List[float] = field(default_factory=lambda: [0.5, 0.3, 0.2])
    hfov_deg: Range = field(default_factory=lambda: [50, 64])  # horizontal field of view, per clip
    scene_margin: float = 0.8  # metres subjects keep from the scene's edge
    others_distance: Range = field(default_factory=lambda: [3, 9])  # further subjects' start distance (metres,
    #                                                                  scaled by size) in the first view
    max_attempts: int = 200  # candidates per clip before giving up with an error


@dataclass
class TrackingConfig:
    """Tracking shots (camera_trajectory kind: track), modelled on the measured HM-World clips
    (HMWORLD_PROFILE.md). Frame-valued settings are stated for a 77-frame context and scale with
    video.context_frames; rates scale inversely."""

    subject_trajectories: List[str] = field(default_factory=lambda: [  # the main subject's walk
        "straight", "slight_curve", "stop_and_go", "turn_late"])
    pace: Range = field(default_factory=lambda: [0.9, 1.8])  # m/s the camera walks (the subject's speed)
    distance: Range = field(default_factory=lambda: [1.2, 2.8])  # metres from the subject at frame 0 (1.7 m tall)
    height_ratio: Range = field(default_factory=lambda: [0.6, 0.9])  # camera height / subject height
    height: Range = field(default_factory=lambda: [0.25, 2.2])  # camera height clamp, metres
    framing_deg: Range = field(default_factory=lambda: [0, 10])  # subject's bearing off centre at frame 0
    exit_frame: Range = field(default_factory=lambda: [62, 68])  # planned first hidden frame
    hidden_gap: Range = field(default_factory=lambda: [10, 20])  # planned frames out of view
    pan_rate: Range = field(default_factory=lambda: [1.8, 2.5])  # peak yaw rate of the pans, degrees per frame
    overshoot_deg: Range = field(default_factory=lambda: [0.5, 5])  # pan past the subject's exit
    return_residual_deg: Range = field(default_factory=lambda: [3, 14])  # the pan back stops this short
    camera_stop_probability: float = 0.75  # a following camera stops walking around the pan
    camera_stop_frame: Range = field(default_factory=lambda: [58, 80])  # ... standing still from this frame on
    stop_ramp_frames: int = 10  # ... after slowing down over this many frames


@dataclass
class EventsConfig:
    """What counts as an exit-entry event; the pre-filter predicts the same rules, the rendered masks decide."""

    min_visible_fraction: float = 0.001  # visible when >= this fraction of the image shows the subject ...
    min_visible_pixels_floor: int = 4  # ... and at least this many pixels
    visible_at_start: int = 4  # every subject is visible in each of the first N frames (0: off)
    min_event_height: float = 0.15  # the visible box reaches this fraction of the frame height ...
    size_window: int = 8  # ... within N frames before its exit, and within N frames from its re-entry
    hidden_gap: Range = field(default_factory=lambda: [4, 30])  # frames out of view (entry - exit)


@dataclass
class PrefilterConfig:
    enabled: bool = True  # geometric exit/entry check before rendering (saves time; masks decide)
    fill_factor: float = 0.5  # share of a subject's projected box its body covers
    occluders: bool = True  # props hide subjects in the prediction too


@dataclass
class FailuresConfig:
    max_retries_per_clip: int = 3  # a renderer failure restarts the clip; then it is recorded as failed


@dataclass
class OutputConfig:
    save_depth: bool = False  # also write clips/<id>/depth.npz (float16 metres)


@dataclass
class RenderConfig:
    partition: PartitionConfig = MISSING  # partition=train|test
    renderer: Any = MISSING  # renderer=embedded|unrealcv (EmbeddedRendererConfig | UnrealRendererConfig)
    captioner: Any = MISSING  # captioner=template|vlm|minicpm
    out: str = MISSING  # the split folder to create (or to resume)
    num_clips: int = 8  # clips in the whole split (over all shards)
    seed: int = 0  # a clip is a pure function of (config, seed, clip index)
    shard: int = 0  # this process renders clips i with i % num_shards == shard
    num_shards: int = 1
    progress: bool = True  # rich progress bar
    # restrict the catalog (null: everything the partition allows); names are file names in render_configs/
    scenes: Optional[List[str]] = None
    subjects: Optional[List[str]] = None
    subject_trajectories: Optional[List[str]] = None  # paths of the further subjects (and the main one, free camera)
    # HM-World's camera is a tracking shot; the free trajectories (pans, orbits, dollies, ...) are used when named
    camera_trajectories: Optional[List[str]] = field(default_factory=lambda: [
        "track_lead", "track_follow", "track_alongside"])
    catalog_dirs: List[str] = field(default_factory=list)  # extra catalog folders (scene/, subject/, ...)
    video: VideoConfig = field(default_factory=VideoConfig)
    compositor: CompositorConfig = field(default_factory=CompositorConfig)
    tracking: TrackingConfig = field(default_factory=TrackingConfig)
    events: EventsConfig = field(default_factory=EventsConfig)
    prefilter: PrefilterConfig = field(default_factory=PrefilterConfig)
    failures: FailuresConfig = field(default_factory=FailuresConfig)
    output: OutputConfig = field(default_factory=OutputConfig)


@dataclass
class CaptionConfig:
    captioner: Any = MISSING  # captioner=template|minicpm|vlm
    split: str = MISSING  # the split folder to re-caption
    batch_size: Optional[int] = None  # clips per captioner call and per checkpoint (null: the captioner's, else 8)
    force: bool = False  # also re-caption clips whose caption_source already is this captioner's name
    limit: Optional[int] = None  # caption at most this many clips in this run
    progress: bool = True


SCHEMAS = [
    (None, "render_schema", RenderConfig),
    (None, "caption_schema", CaptionConfig),
    # group options' schemas live in their own group (schema/<group>), so they are not offered as options
    ("schema/renderer", "embedded", EmbeddedRendererConfig),
    ("schema/renderer", "unrealcv", UnrealRendererConfig),
    ("schema/captioner", "template", TemplateCaptionerConfig),
    ("schema/captioner", "vlm", VLMCaptionerConfig),
    ("schema/captioner", "minicpm", MiniCPMCaptionerConfig),
]
