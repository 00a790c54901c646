"""Opening a submission that may be a folder, a .zip or a .tar (optionally compressed), safely.

Archives are checked member by member *before anything is written*: a member whose path is absolute, holds a
`..` component, is a link, a device or a FIFO is a problem, and any such problem refuses the whole archive
(nothing is extracted). Accepted archives are copied member by member into a fresh private folder with our own
`open()` calls on paths we built (never `extractall`), with byte and member-count limits that hold even when
an archive lies about its sizes (zip bombs). A folder or archive whose only top-level entry is a folder holding
the submission is accepted as well (how `zip -r sub.zip sub/` packs it).
"""
from __future__ import annotations

import contextlib
import os
import shutil
import stat
import tarfile
import tempfile
import zipfile
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import Iterator, Optional

from hmworld.benchmark.submission import SUBMISSION_YAML, SubmissionError

ZIP_SUFFIXES = (".zip",)
TAR_SUFFIXES = (".tar", ".tar.gz", ".tgz", ".tar.bz2", ".tbz2", ".tar.xz", ".txz")
_CHUNK = 1 << 20


@dataclass(frozen=True)
class ArchiveLimits:
    """Bounds on what unpacking may write; the scorer derives them from the split (see limits_for_split)."""

    max_members: int = 10_000
    max_total_bytes: int = 64 << 30
    max_member_bytes: int = 8 << 30


def is_archive(path: Path) -> bool:
    name = path.name.lower()
    return path.is_file() and name.endswith(ZIP_SUFFIXES + TAR_SUFFIXES)


def _member_problem(name: str) -> Optional[str]:
    """Why an archive member's path is unsafe, or None. Both separators count: Windows tools write '\\'."""
    if not name or "\x00" in name:
        return "empty or NUL in its name"
    norm = name.replace("\\", "/")
    if norm.startswith("/") or (len(norm) > 1 and norm[1] == ":"):
        return "absolute path (archive members must be relative to the submission)"
    if ".." in PurePosixPath(norm).parts:
        return "path with '..' that leaves the submission"
    return None


def _safe_parts(name: str) -> tuple[str, ...]:
    return tuple(p for p in PurePosixPath(name.replace("\\", "/")).parts if p not in ("", "."))


@dataclass(frozen=True)
class _Member:
    name: str
    is_dir: bool
    size: int
    handle: object          # ZipInfo | TarInfo


def _list_zip(z: zipfile.ZipFile) -> tuple[list[_Member], list[str]]:
    members, problems = [], []
    for info in z.infolist():
        why = _member_problem(info.filename)
        mode = info.external_attr >> 16
        if why is None and stat.S_ISLNK(mode):
            why = "symbolic link (submissions hold plain files only)"
        if why:
            problems.append(f"archive member {info.filename!r}: {why}")
            continue
        members.append(_Member(info.filename, info.is_dir(), info.file_size, info))
    return members, problems


def _list_tar(t: tarfile.TarFile) -> tuple[list[_Member], list[str]]:
    members, problems = [], []
    for info in t.getmembers():
        why = _member_problem(info.name)
        if why is None and (info.issym() or info.islnk()):
            why = f"link to {info.linkname!r} (submissions hold plain files only)"
        elif why is None and not (info.isfile() or info.isdir()):
            why = "not a regular file or folder (device, FIFO ...)"
        if why:
            problems.append(f"archive member {info.name!r}: {why}")
            continue
        members.append(_Member(info.name, info.isdir(), info.size, info))
    return members, problems


def _copy_bounded(src, dst, limit: int, name: str) -> int:
    """Copy at most `limit` bytes; more means the archive lied about the size (or is a bomb)."""
    written = 0
    while block := src.read(_CHUNK):
        written += len(block)
        if written > limit:
            raise SubmissionError(f"archive member {name!r}: unpacks to more than {limit} bytes; refused")
        dst.write(block)
    return written


def unpack_archive(path: Path, dest: Path, limits: ArchiveLimits = ArchiveLimits()) -> None:
    """Check every member, then unpack into the empty folder `dest`; SubmissionError lists every problem."""
    try:
        if path.name.lower().endswith(ZIP_SUFFIXES):
            archive = zipfile.ZipFile(path)
            members, problems = _list_zip(archive)
            opener = lambda m: archive.open(m.handle)  # noqa: E731
        else:
            archive = tarfile.open(path)
            members, problems = _list_tar(archive)
            opener = lambda m: archive.extractfile(m.handle)  # noqa: E731
    except (zipfile.BadZipFile, tarfile.TarError, OSError, EOFError) as exc:
        raise SubmissionError(f"{path.name}: not a readable archive ({exc})") from exc
    with contextlib.closing(archive):
        if len(members) > limits.max_members:
            problems.append(f"{path.name}: {len(members)} members, more than the {limits.max_members} a "
                            f"submission of this split can hold")
        declared = sum(m.size for m in members if not m.is_dir)
        if declared > limits.max_total_bytes:
            problems.append(f"{path.name}: unpacks to {declared} bytes, more than the {limits.max_total_bytes} "
                            f"a submission of this split can need")
        if problems:
            raise SubmissionError(f"{path.name}: archive refused, nothing was unpacked:\n" +
                                  "\n".join(f"  - {p}" for p in problems))
        total = 0
        root = dest.resolve()
        for m in members:
            parts = _safe_parts(m.name)
            if not parts:
                continue
            target = root.joinpath(*parts)
            # Belt and braces: the name checks above already exclude this.
            if root not in target.resolve().parents:
                raise SubmissionError(f"archive member {m.name!r}: resolves outside the submission")
            if m.is_dir:
                target.mkdir(parents=True, exist_ok=True)
                continue
            target.parent.mkdir(parents=True, exist_ok=True)
            try:
                with opener(m) as src, open(target, "xb") as dst:
                    total += _copy_bounded(src, dst, min(limits.max_member_bytes, limits.max_total_bytes - total),
                                           m.name)
            except FileExistsError as exc:
                raise SubmissionError(f"archive member {m.name!r}: appears twice in the archive") from exc
            except (zipfile.BadZipFile, tarfile.TarError, OSError, EOFError) as exc:
                raise SubmissionError(f"archive member {m.name!r}: cannot be unpacked ({exc})") from exc


def submission_root(folder: Path) -> Path:
    """The folder holding submission.yaml: `folder` itself, or its single subfolder (archives of a folder)."""
    if (folder / SUBMISSION_YAML).exists() or (folder / SUBMISSION_YAML).is_symlink():
        return folder
    entries = [e for e in folder.iterdir()]
    if len(entries) == 1 and entries[0].is_dir() and not entries[0].is_symlink():
        return entries[0]
    return folder


@contextlib.contextmanager
def open_submission(path: str | Path, limits: ArchiveLimits = ArchiveLimits(),
                    workdir: Optional[str | Path] = None) -> Iterator[Path]:
    """Yield the folder of a submission given as a folder or an archive (unpacked into a private temporary
    folder, removed afterwards, also when scoring fails)."""
    path = Path(path)
    if path.is_dir():
        yield submission_root(path)
        return
    if not path.exists():
        raise SubmissionError(f"submission={path}: no such folder or archive")
    if not is_archive(path):
        raise SubmissionError(f"submission={path}: neither a folder nor a .zip/.tar archive")
    tmp = Path(tempfile.mkdtemp(prefix="hmworld-submission-", dir=workdir))
    try:
        unpack_archive(path, tmp, limits)
        yield submission_root(tmp)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def within(root: Path, path: Path) -> bool:
    """Whether `path` (after resolving every symlink) lies inside `root`."""
    try:
        real = Path(os.path.realpath(path))
        base = Path(os.path.realpath(root))
    except OSError:
        return False
    return real == base or base in real.parents
