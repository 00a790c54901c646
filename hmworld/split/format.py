"""The split format on disk (version 1): names, the manifest row, and the fingerprint.

    <split>/split.json                    format version, identity config, status, fingerprint
    <split>/manifest.parquet              one row per clip (ClipRecord), paths relative to <split>
    <split>/captions.txt                  clips/<id>/video.mp4<TAB>caption, one line per clip
    <split>/clips/<id>/video.mp4          H.264, context frames then target frames
    <split>/clips/<id>/camera.json        OpenCV camera-to-world poses (metres) and intrinsics
    <split>/clips/<id>/subjects.json      per-subject, per-frame position, heading and boxes
    <split>/clips/<id>/events.json        visibility intervals and exit/entry events from the masks
    <split>/clips/<id>/instances.npz      uint8 [frames, H, W] instance ids (0 background)
    <split>/clips/<id>/clipspec.json      the ClipSpec the clip was rendered from (re-render on any backend)
    <split>/clips/<id>/clip.json          this clip's manifest row plus rendering statistics

README.md documents every field. A clip folder appears complete or not at all.
"""
from __future__ import annotations

import hashlib
import json
from dataclasses import asdict, dataclass, field, fields

FORMAT_VERSION = 1
SPLIT_JSON = "split.json"
MANIFEST = "manifest.parquet"
CAPTIONS = "captions.txt"
CLIPS_DIR = "clips"
CLIP_FILES = {
    "video_path": "video.mp4", "camera_path": "camera.json", "subjects_path": "subjects.json",
    "events_path": "events.json", "instances_path": "instances.npz", "clipspec_path": "clipspec.json",
}
CLIP_JSON = "clip.json"
TMP_PREFIX = ".tmp-"
# Not part of the fingerprint: captions can be regenerated without changing what submissions are scored on.
UNFINGERPRINTED = ("caption", "caption_source")


@dataclass
class ClipRecord:
    """One manifest row."""

    clip_id: str
    scene: str
    partition: str
    subjects: list[str]
    trajectories: list[str]  # subject trajectory per subject, same order as `subjects`
    camera_trajectory: str
    seed: int
    slot: int
    attempt: int
    width: int
    height: int
    fps: float
    context_frames: int
    target_frames: int
    events: str  # JSON: [{"instance_id", "exit_frame", "entry_frame"}, ...]
    caption: str
    caption_source: str
    video_sha256: str
    video_path: str = ""
    camera_path: str = ""
    subjects_path: str = ""
    events_path: str = ""
    instances_path: str = ""
    clipspec_path: str = ""
    # sha256 of instances.npz: the masked metrics and DSC read the masks, so the fingerprint covers them like the
    # video. Empty for clips without masks (imported ones) and for splits written before it was recorded.
    instances_sha256: str = ""
    extra: dict = field(default_factory=dict)  # statistics that are not manifest columns

    def __post_init__(self):
        for key, name in CLIP_FILES.items():
            if not getattr(self, key):
                setattr(self, key, f"{CLIPS_DIR}/{self.clip_id}/{name}")

    def row(self) -> dict:
        d = asdict(self)
        d.pop("extra")
        return d

    def to_json(self) -> dict:
        return asdict(self)

    @classmethod
    def from_json(cls, d: dict) -> "ClipRecord":
        names = {f.name for f in fields(cls)}
        return cls(**{k: v for k, v in d.items() if k in names})


MANIFEST_COLUMNS = [f.name for f in fields(ClipRecord) if f.name != "extra"]


def fingerprint(records: list[ClipRecord]) -> str:
    """sha256 over the manifest rows (captions excluded) in clip-id order; the rows hold the video and instance-mask
    hashes. An empty instances_sha256 is left out, so splits written before it existed keep their fingerprint."""
    h = hashlib.sha256()
    h.update(f"hmworld-split-v{FORMAT_VERSION}\n".encode())
    for rec in sorted(records, key=lambda r: r.clip_id):
        row = {k: v for k, v in rec.row().items()
               if k not in UNFINGERPRINTED and not (k == "instances_sha256" and not v)}
        h.update(json.dumps(row, sort_keys=True, separators=(",", ":")).encode())
        h.update(b"\n")
    return h.hexdigest()


def one_line(text: str) -> str:
    """A caption as the split stores it and the text encoders read it: every run of white space (tabs and
    newlines too) folded to one space, none at either end."""
    return " ".join(str(text).split())


def caption_line(rec: ClipRecord) -> str:
    """`relative/path.mp4<TAB>caption` as the original release; tabs and newlines folded to spaces."""
    return f"{rec.video_path}\t{one_line(rec.caption)}"
