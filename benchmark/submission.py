"""The submission format (version 1): what model authors hand to the leaderboard.

    <submission>/submission.yaml     SubmissionInfo below
    <submission>/<clip_id>.mp4       one video per clip of the split: the generated target frames
                                     (context + target when includes_context is true)

A submission may also be a .zip or .tar of such a folder. Generators write it through `write_submission_info`,
the leaderboard reads it through `read_submission_info`, so both sides share one definition.
"""
from __future__ import annotations

import math
from dataclasses import asdict, dataclass, fields
from pathlib import Path
from typing import Any, Callable

import numpy as np
import yaml

from hmworld.errors import HMWorldError
from hmworld.fsutil import atomic_write_text
from hmworld.progress import NO_COUNT

SUBMISSION_FORMAT_VERSION = 1
SUBMISSION_YAML = "submission.yaml"

# field -> (type(s), required, meaning); the README's submission section mirrors this table
SCHEMA: dict[str, tuple[tuple[type, ...], bool, str]] = {
    "format_version": ((int,), True, f"submission format version ({SUBMISSION_FORMAT_VERSION})"),
    "model": ((str,), True, "model name shown on the leaderboard"),
    "description": ((str,), False, "free text"),
    "url": ((str,), False, "paper or code link, free text"),
    "params": ((int, type(None)), False, "parameter count, or null"),
    "split_fingerprint": ((str,), True, "the `fingerprint` of the split's split.json"),
    "includes_context": ((bool,), True, "true when each video holds context + target frames"),
    "fps": ((int, float), True, "frame rate of the videos (must equal the split's)"),
}


# Bounds on what a stranger's submission.yaml may hold. The file is refused unparsed above MAX_YAML_BYTES; YAML
# aliases (the "billion laughs" expansion) and nesting are bounded while the document is composed.
MAX_YAML_BYTES = 64 << 10
MAX_YAML_ALIASES = 8
MAX_YAML_DEPTH = 8
MAX_YAML_NODES = 1000
MAX_LENGTH = {"model": 200, "description": 4000, "url": 1000, "split_fingerprint": 128}
MAX_PARAMS = 10 ** 14
MAX_FPS = 1000


class SubmissionError(HMWorldError):
    """A submission is malformed; the message lists every problem found."""


def _short_repr(value: Any, limit: int = 80) -> str:
    text = repr(value)
    return text if len(text) <= limit else text[: limit - 3] + "..."


class _BoundedLoader(yaml.SafeLoader):
    """yaml.SafeLoader that refuses documents with more than MAX_YAML_ALIASES aliases, deeper nesting than
    MAX_YAML_DEPTH or more than MAX_YAML_NODES nodes, while composing (before anything is expanded)."""

    def __init__(self, stream):
        super().__init__(stream)
        self._aliases = self._nodes = self._depth = 0

    def compose_node(self, parent, index):
        if self.check_event(yaml.AliasEvent):
            self._aliases += 1
            if self._aliases > MAX_YAML_ALIASES:
                raise yaml.YAMLError(f"more than {MAX_YAML_ALIASES} YAML aliases (*name); refused")
        self._nodes += 1
        if self._nodes > MAX_YAML_NODES:
            raise yaml.YAMLError(f"more than {MAX_YAML_NODES} YAML nodes; refused")
        self._depth += 1
        try:
            if self._depth > MAX_YAML_DEPTH:
                raise yaml.YAMLError(f"nested deeper than {MAX_YAML_DEPTH} levels; refused")
            return super().compose_node(parent, index)
        finally:
            self._depth -= 1


def load_bounded_yaml(path: Path, max_bytes: int = MAX_YAML_BYTES) -> Any:
    """Parse a small untrusted YAML file: size checked before reading it whole, aliases, depth and node count
    bounded while composing. SubmissionError names the file and the fault."""
    try:
        with open(path, "rb") as f:
            raw = f.read(max_bytes + 1)
    except OSError as exc:
        raise SubmissionError(f"{path}: unreadable ({exc.strerror or exc})") from exc
    if len(raw) > max_bytes:
        raise SubmissionError(f"{path}: larger than {max_bytes} bytes; refused unparsed")
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise SubmissionError(f"{path}: not UTF-8 text ({exc.reason} at byte {exc.start})") from exc
    loader = _BoundedLoader(text)
    try:
        return loader.get_single_data()
    except yaml.YAMLError as exc:
        where = getattr(exc, "problem_mark", None)
        at = f" (line {where.line + 1})" if where is not None else ""
        what = getattr(exc, "problem", None) or str(exc).splitlines()[0]
        raise SubmissionError(f"{path}: unreadable YAML{at}: {_short_repr(str(what), 200)}") from exc
    except RecursionError as exc:
        raise SubmissionError(f"{path}: unreadable YAML: nested too deeply; refused") from exc
    finally:
        loader.dispose()


@dataclass
class SubmissionInfo:
    model: str
    split_fingerprint: str
    fps: float
    includes_context: bool = False
    description: str = ""
    url: str = ""
    params: int | None = None
    format_version: int = SUBMISSION_FORMAT_VERSION

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        return {k: d[k] for k in SCHEMA}

    @classmethod
    def from_dict(cls, d: Any, where: str = SUBMISSION_YAML) -> "SubmissionInfo":
        """Validate against SCHEMA; all problems are reported at once."""
        if not isinstance(d, dict):
            raise SubmissionError(f"{where}: expected a mapping of fields, got {type(d).__name__}")
        problems = []
        for key, (types, required, meaning) in SCHEMA.items():
            if key not in d:
                if required:
                    problems.append(f"{where}: missing field `{key}` ({meaning})")
            elif not isinstance(d[key], types) or (isinstance(d[key], bool) and bool not in types):
                problems.append(f"{where}: field `{key}` must be {'/'.join(t.__name__ for t in types)}, "
                                f"got {_short_repr(d[key])}")
            elif isinstance(d[key], str):
                problems.extend(f"{where}: field `{key}` {p}" for p in _text_problems(key, d[key]))
        unknown = sorted((_short_repr(k, 40) for k in d if not (isinstance(k, str) and k in SCHEMA)))
        if unknown:
            problems.append(f"{where}: unknown field(s) {', '.join(unknown[:10])}"
                            + (f" and {len(unknown) - 10} more" if len(unknown) > 10 else ""))
        if not problems and d["format_version"] != SUBMISSION_FORMAT_VERSION:
            problems.append(f"{where}: format_version {d['format_version']} is not {SUBMISSION_FORMAT_VERSION}")
        if not problems and not (math.isfinite(d["fps"]) and 0 < d["fps"] <= MAX_FPS):
            problems.append(f"{where}: fps must be a positive number up to {MAX_FPS}, got {d['fps']}")
        if not problems and d.get("params") is not None and not 0 <= d["params"] <= MAX_PARAMS:
            problems.append(f"{where}: params must be between 0 and {MAX_PARAMS}, got {d['params']}")
        if problems:
            raise SubmissionError("\n".join(problems))
        names = {f.name for f in fields(cls)}
        return cls(**{k: v for k, v in d.items() if k in names})


def _text_problems(key: str, value: str) -> list[str]:
    from hmworld.benchmark.text import has_controls

    problems = []
    limit = MAX_LENGTH.get(key)
    if limit is not None and len(value) > limit:
        problems.append(f"is {len(value)} characters long, at most {limit} allowed")
    if key == "model" and not value.strip():
        problems.append("is empty")
    if has_controls(value, allow_newlines=key == "description"):
        problems.append("holds control characters, terminal escapes or line breaks (refused: it is shown in "
                        "terminals and pages)")
    return problems


def video_name(clip_id: str) -> str:
    return f"{clip_id}.mp4"


def write_clip_videos(clips, out: Path, frames_for: Callable[[Any], np.ndarray], fps: float,
                      on_clip: Callable[[], None] = NO_COUNT.advance) -> tuple[int, int]:
    """One predicted video per clip into the submission folder `out`, each written whole or not at all; a clip
    whose video is already there is skipped, so a killed run resumes. `on_clip()` is called per clip (a
    hmworld.progress counter's advance). Returns (written, already there)."""
    from hmworld.video import write_video_atomic

    written = already = 0
    for clip in clips:
        dest = Path(out) / video_name(clip.clip_id)
        if dest.is_file():
            already += 1
        else:
            write_video_atomic(dest, frames_for(clip), fps)
            written += 1
        on_clip()
    return written, already


def write_submission_info(folder: str | Path, info: SubmissionInfo) -> Path:
    path = Path(folder) / SUBMISSION_YAML
    atomic_write_text(path, yaml.safe_dump(info.to_dict(), sort_keys=False))
    return path


def read_submission_info(folder: str | Path) -> SubmissionInfo:
    path = Path(folder) / SUBMISSION_YAML
    if not path.is_file():
        raise SubmissionError(f"{path}: missing (every submission needs a {SUBMISSION_YAML})")
    data = load_bounded_yaml(path)
    return SubmissionInfo.from_dict(data, str(path))
