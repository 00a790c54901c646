"""The submission format (version 1): what model authors hand to the leaderboard.

    <submission>/submission.yaml     SubmissionInfo below
    <submission>/<clip_id>.mp4       one video per clip of the split: the generated target frames
                                     (context + target when includes_context is true)

A submission may also be a .zip or .tar of such a folder. Generators write it through `write_submission_info`,
the leaderboard reads it through `read_submission_info`, so both sides share one definition.
"""
from __future__ import annotations

from dataclasses import asdict, dataclass, fields
from pathlib import Path
from typing import Any

import yaml

from hmworld.errors import HMWorldError
from hmworld.fsutil import atomic_write_text

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


class SubmissionError(HMWorldError):
    """A submission is malformed; the message lists every problem found."""


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
                                f"got {d[key]!r}")
        unknown = sorted(set(d) - set(SCHEMA))
        if unknown:
            problems.append(f"{where}: unknown field(s) {unknown}")
        if not problems and d["format_version"] != SUBMISSION_FORMAT_VERSION:
            problems.append(f"{where}: format_version {d['format_version']} is not {SUBMISSION_FORMAT_VERSION}")
        if not problems and not d["fps"] > 0:
            problems.append(f"{where}: fps must be positive, got {d['fps']}")
        if problems:
            raise SubmissionError("\n".join(problems))
        names = {f.name for f in fields(cls)}
        return cls(**{k: v for k, v in d.items() if k in names})


def video_name(clip_id: str) -> str:
    return f"{clip_id}.mp4"


def write_submission_info(folder: str | Path, info: SubmissionInfo) -> Path:
    path = Path(folder) / SUBMISSION_YAML
    atomic_write_text(path, yaml.safe_dump(info.to_dict(), sort_keys=False))
    return path


def read_submission_info(folder: str | Path) -> SubmissionInfo:
    path = Path(folder) / SUBMISSION_YAML
    if not path.is_file():
        raise SubmissionError(f"{path}: missing (every submission needs a {SUBMISSION_YAML})")
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except (yaml.YAMLError, UnicodeDecodeError) as exc:
        raise SubmissionError(f"{path}: unreadable YAML ({exc})") from exc
    return SubmissionInfo.from_dict(data, str(path))
