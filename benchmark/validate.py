"""Validation of a submission against a split, before any scoring; every problem is collected and named.

Checks, in order of cost:
  submission.yaml   readable, complete, the split's fingerprint, the split's fps
  names             every `<clip_id>.mp4` of the split present; nothing else (foreign names, extra files,
                    folders); no symlink pointing outside the submission
  headers           (every clip, cheap) file size below an uncompressed video of the expected size, a video
                    stream, its width x height, fps and declared frame count
  decode            (the clips this shard scores) every frame decodes, frame size of every frame, exact frame
                    count; decoding stops one frame past the expected count, so nothing absurd is allocated

Nothing is ever truncated or resized to fit: a wrong video is reported, not repaired.
"""
from __future__ import annotations

import hashlib
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Iterable, Optional

from hmworld.benchmark.archive import within
from hmworld.benchmark.submission import SUBMISSION_YAML, SubmissionError, SubmissionInfo, read_submission_info, video_name
from hmworld.fsutil import sha256_file
from hmworld.progress import NO_COUNT

VIDEO_SUFFIX = ".mp4"


@dataclass(frozen=True)
class Problem:
    """One fault, naming the file (and the clip where there is one)."""

    file: str
    message: str
    clip_id: Optional[str] = None
    fatal: bool = False      # refuses the submission even with partial=true (it cannot be scored at all)

    def __str__(self) -> str:
        return f"{self.file}: {self.message}"


@dataclass(frozen=True)
class Expected:
    """What one clip's video must be."""

    width: int
    height: int
    fps: float
    frames: int
    context_frames: int
    target_frames: int

    @property
    def max_bytes(self) -> int:
        # H.264 never needs more than the raw frames (plus container overhead); anything larger is refused
        # before it is opened.
        return 2 * self.width * self.height * 3 * self.frames + (1 << 20)

    def frames_text(self, includes_context: bool) -> str:
        if includes_context:
            return f"{self.frames} (context {self.context_frames} + target {self.target_frames}, includes_context=true)"
        return f"{self.frames} (the target frames; includes_context=false)"


@dataclass
class ValidationReport:
    root: Path
    info: Optional[SubmissionInfo]
    problems: list[Problem]
    clip_files: dict[str, Path]           # clip id -> video file, for clips present with a plausible name
    decoded: list[str]                    # clips whose video was decoded completely here
    submission_id: Optional[str] = None
    clip_sha256: dict[str, str] = field(default_factory=dict)

    @property
    def fatal(self) -> list[Problem]:
        return [p for p in self.problems if p.fatal]

    def clip_problems(self, clip_id: str) -> list[Problem]:
        return [p for p in self.problems if p.clip_id == clip_id]

    def valid(self, clip_id: str) -> bool:
        return clip_id in self.clip_files and not self.clip_problems(clip_id)

    def summary(self) -> str:
        return "\n".join(f"  - {p}" for p in self.problems)


def _fps_equal(a: float, b: float) -> bool:
    return abs(float(a) - float(b)) <= 1e-3 * max(1.0, abs(float(b)))


def check_header(path: Path, exp: Expected, includes_context: bool) -> list[str]:
    """Cheap checks from the file size and the container header; nothing is decoded."""
    import av

    size = path.stat().st_size
    if size > exp.max_bytes:
        return [f"{size} bytes, more than an uncompressed {exp.width}x{exp.height} video of {exp.frames} frames; "
                f"refused unread"]
    if size == 0:
        return ["empty file"]
    try:
        with av.open(str(path)) as c:
            if not c.streams.video:
                return ["no video stream"]
            s = c.streams.video[0]
            w, h = s.codec_context.width, s.codec_context.height
            rate = s.average_rate or s.guessed_rate
            declared = int(s.frames or 0)
    except (av.error.FFmpegError, OSError, ValueError) as exc:
        return [f"cannot be opened as a video (truncated or not an mp4?): {exc}"]
    problems = []
    if (w, h) != (exp.width, exp.height):
        problems.append(f"frame size {w}x{h}, expected {exp.width}x{exp.height} (never resized)")
    if rate is None or not _fps_equal(float(rate), exp.fps):
        problems.append(f"{float(rate) if rate else 'unknown'} fps, expected {exp.fps:g}")
    if declared and declared != exp.frames:
        problems.append(f"declares {declared} frames, expected {exp.frames_text(includes_context)}")
    return problems


def check_decode(path: Path, exp: Expected, includes_context: bool) -> list[str]:
    """Decode every frame (one at a time, nothing kept); stop one past the expected count."""
    import av

    n = 0
    try:
        with av.open(str(path)) as c:
            s = c.streams.video[0]
            s.thread_type = "AUTO"
            for frame in c.decode(s):
                if (frame.width, frame.height) != (exp.width, exp.height):
                    return [f"frame {n} is {frame.width}x{frame.height}, expected {exp.width}x{exp.height}"]
                n += 1
                if n > exp.frames:
                    return [f"more than {exp.frames} frames, expected {exp.frames_text(includes_context)} "
                            f"(never truncated)"]
    except (av.error.FFmpegError, OSError, ValueError) as exc:
        return [f"does not decode completely: {exc} after {n} frames"]
    if n != exp.frames:
        return [f"{n} frames decoded, expected {exp.frames_text(includes_context)}"]
    return []


def expected_for(row: dict, includes_context: bool) -> Expected:
    c, t = int(row["context_frames"]), int(row["target_frames"])
    return Expected(int(row["width"]), int(row["height"]), float(row["fps"]), c + t if includes_context else t, c, t)


def _read_info(root: Path, split_fingerprint: str, split_fps: float) -> tuple[Optional[SubmissionInfo], list[Problem]]:
    yaml_path = root / SUBMISSION_YAML
    if yaml_path.is_symlink() and not within(root, yaml_path):
        return None, [Problem(SUBMISSION_YAML, f"symlink pointing outside the submission "
                                               f"(-> {os.readlink(yaml_path)}); refused unread", fatal=True)]
    try:
        info = read_submission_info(root)
    except SubmissionError as exc:
        lines = str(exc).splitlines()
        return None, [Problem(SUBMISSION_YAML, line.split(": ", 1)[-1], fatal=True) for line in lines]
    problems = []
    if info.split_fingerprint != split_fingerprint:
        problems.append(Problem(SUBMISSION_YAML, f"split_fingerprint {info.split_fingerprint!r} is not this split's "
                                                 f"({split_fingerprint}): made for another split, or the split "
                                                 f"changed since", fatal=True))
    if not _fps_equal(info.fps, split_fps):
        problems.append(Problem(SUBMISSION_YAML, f"fps {info.fps:g}, the split's videos are {split_fps:g} fps",
                                fatal=True))
    return info, problems


def _content_id(root: Path, names: Iterable[str], hashes: dict[str, str]) -> str:
    """The submission's identity: a hash over submission.yaml and every clip video (name + sha256), so a
    folder and an archive of it are the same submission and any changed byte makes a new one."""
    h = hashlib.sha256()
    for name in sorted(names):
        digest = hashes.get(name) or sha256_file(root / name)
        h.update(f"{name}\0{digest}\n".encode())
    return h.hexdigest()[:20]


def validate_submission(root: Path, split, decode_clips: Optional[Iterable[str]] = None,
                        progress: Callable[[], None] = NO_COUNT.advance) -> ValidationReport:
    """Check the submission folder `root` against `split` (a hmworld.split.Split).

    decode_clips: clips to decode completely (default: all); the others get the cheap header checks only.
    progress: called once per decoded clip (a hmworld.progress counter's advance).
    """
    fingerprint = split.fingerprint
    rows = {r["clip_id"]: r for r in split.manifest.to_dict("records")}
    split_fps = float(split.manifest["fps"].iloc[0]) if len(rows) else 0.0
    info, problems = _read_info(root, fingerprint, split_fps)
    includes_context = bool(info.includes_context) if info else False

    clip_files: dict[str, Path] = {}
    for entry in sorted(root.iterdir(), key=lambda p: p.name):
        name = entry.name
        if name == SUBMISSION_YAML:
            continue
        if entry.is_symlink() and not within(root, entry):
            problems.append(Problem(name, f"symlink pointing outside the submission (-> {os.readlink(entry)}); "
                                          f"never followed", clip_id=None))
            continue
        if entry.is_dir():
            problems.append(Problem(name + "/", "extra folder (a submission holds submission.yaml and "
                                                "<clip_id>.mp4 files only)"))
            continue
        if not entry.is_file():
            problems.append(Problem(name, "not a regular file (broken link, device ...)"))
            continue
        if name.endswith(VIDEO_SUFFIX):
            clip_id = name[: -len(VIDEO_SUFFIX)]
            if clip_id in rows:
                clip_files[clip_id] = entry
            else:
                problems.append(Problem(name, f"{clip_id!r} is not a clip id of this split"))
            continue
        problems.append(Problem(name, "extra file (a submission holds submission.yaml and <clip_id>.mp4 files only)"))
    for clip_id in rows:
        if clip_id not in clip_files:
            problems.append(Problem(video_name(clip_id), f"missing: clip {clip_id} of the split has no video",
                                    clip_id=clip_id))

    decode_set = set(rows) if decode_clips is None else set(decode_clips)
    decoded = []
    if info is not None:
        for clip_id, path in sorted(clip_files.items()):
            exp = expected_for(rows[clip_id], includes_context)
            faults = check_header(path, exp, includes_context)
            if not faults and clip_id in decode_set:
                faults = check_decode(path, exp, includes_context)
                decoded.append(clip_id)
                progress()
            problems.extend(Problem(video_name(clip_id), f, clip_id=clip_id) for f in faults)

    hashes = {video_name(c): sha256_file(p) for c, p in clip_files.items()}
    sub_id = None
    if info is not None:
        sub_id = _content_id(root, [SUBMISSION_YAML, *hashes], hashes)
    problems.sort(key=lambda p: (not p.fatal, p.file, p.message))
    return ValidationReport(root, info, problems, clip_files, decoded, sub_id,
                            {c: hashes[video_name(c)] for c in clip_files})


def refusal_message(report: ValidationReport, source: str, partial_hint: bool = True) -> str:
    n = len(report.problems)
    hint = ("" if not partial_hint or report.fatal else
            "\n(pass partial=true to score the valid clips and mark the rest)")
    return f"submission {source} refused: {n} problem{'s' if n != 1 else ''}\n{report.summary()}{hint}"
