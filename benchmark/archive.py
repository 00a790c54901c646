"""Opening a submission that may be a folder, a .zip or a .tar (optionally compressed), safely.

Archives are checked member by member *before anything is written*: a member whose path is absolute, holds a
`..` component, is a link, a device or a FIFO is a problem, and any such problem refuses the whole archive
(nothing is extracted). Accepted archives are copied member by member into a fresh private folder with our own
`open()` calls on paths we built (never `extractall`), with byte and member-count limits that hold even when
an archive lies about its sizes (zip bombs). A folder or archive whose only top-level entry is a folder holding
the submission is accepted as well (how `zip -r sub.zip sub/` packs it).
"""
from __future__ import annotations

import bz2
import contextlib
import gzip
import io
import lzma
import os
import shutil
import stat
import struct
import tarfile
import tempfile
import zipfile
import zlib
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


MAX_NAME_PART_BYTES = 255          # one path component (what every common filesystem allows)
MAX_NAME_BYTES = 1024              # a member's whole path
MAX_HEADER_READ = 1 << 20          # one read while listing a tar (long-name / pax headers): more is refused
# zip compression methods zipfile can inflate (stored, deflate, bzip2, lzma); anything else is refused up front
ZIP_METHODS = {zipfile.ZIP_STORED: "stored", zipfile.ZIP_DEFLATED: "deflate", zipfile.ZIP_BZIP2: "bzip2",
               zipfile.ZIP_LZMA: "lzma"}
# Everything a damaged or unsupported archive can raise while it is read; each becomes a refusal naming it.
_READ_ERRORS = (zipfile.BadZipFile, zipfile.LargeZipFile, tarfile.TarError, OSError, EOFError, ValueError,
                NotImplementedError, RuntimeError, zlib.error, lzma.LZMAError, UnicodeError, struct.error)


def _shown(name: str) -> str:
    text = repr(name)
    return text if len(text) <= 120 else text[:117] + "..."


def _member_problem(name: str) -> Optional[str]:
    """Why an archive member's path is unsafe, or None. Both separators count: Windows tools write '\\'."""
    if not name or "\x00" in name:
        return "empty or NUL in its name"
    norm = name.replace("\\", "/")
    if norm.startswith("/") or (len(norm) > 1 and norm[1] == ":"):
        return "absolute path (archive members must be relative to the submission)"
    if ".." in PurePosixPath(norm).parts:
        return "path with '..' that leaves the submission"
    try:
        encoded = norm.encode("utf-8")
    except UnicodeEncodeError:
        return "name is not valid Unicode"
    if len(encoded) > MAX_NAME_BYTES or any(len(p.encode("utf-8")) > MAX_NAME_PART_BYTES
                                           for p in norm.split("/")):
        return (f"name too long ({len(encoded)} bytes; at most {MAX_NAME_PART_BYTES} per component and "
                f"{MAX_NAME_BYTES} in all)")
    return None


def _safe_parts(name: str) -> tuple[str, ...]:
    return tuple(p for p in PurePosixPath(name.replace("\\", "/")).parts if p not in ("", "."))


@dataclass(frozen=True)
class _Member:
    name: str
    is_dir: bool
    size: int
    handle: object          # ZipInfo | TarInfo


def _layout_problems(members: list[_Member]) -> list[str]:
    """Names that cannot all be unpacked: a file named twice, or one path both a file and a folder."""
    files: dict[tuple[str, ...], str] = {}
    folders: dict[tuple[str, ...], str] = {}
    problems = []
    for m in members:
        parts = _safe_parts(m.name)
        if not parts:
            continue
        for i in range(1, len(parts) + (1 if m.is_dir else 0)):
            folders.setdefault(parts[:i], m.name)
        if not m.is_dir:
            if parts in files:
                problems.append(f"archive member {_shown(m.name)}: appears twice in the archive")
            files.setdefault(parts, m.name)
    for parts, name in files.items():
        if parts in folders:
            problems.append(f"archive member {_shown(name)}: is both a file and a folder "
                            f"(see {_shown(folders[parts])})")
    return problems


def _list_zip(z: zipfile.ZipFile) -> tuple[list[_Member], list[str]]:
    members, problems = [], []
    for info in z.infolist():
        why = _member_problem(info.filename)
        mode = info.external_attr >> 16
        if why is None and stat.S_ISLNK(mode):
            why = "symbolic link (submissions hold plain files only)"
        elif why is None and info.flag_bits & 0x1:
            why = "encrypted (submissions must not be encrypted)"
        elif why is None and info.compress_type not in ZIP_METHODS:
            why = (f"compression method {info.compress_type} is not supported (use one of "
                   f"{', '.join(ZIP_METHODS.values())})")
        if why:
            problems.append(f"archive member {_shown(info.filename)}: {why}")
            continue
        members.append(_Member(info.filename, info.is_dir(), info.file_size, info))
    return members, problems


class _TooBig(Exception):
    pass


class _BoundedStream(io.RawIOBase):
    """A read-only view of a (decompressing) stream that refuses to go past `budget` bytes of output and any
    single read larger than MAX_HEADER_READ, so listing a compressed tar never inflates more than the split
    allows, however small the archive."""

    def __init__(self, inner, budget: int):
        super().__init__()
        self.inner, self.budget = inner, budget

    def readable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return True

    def tell(self) -> int:
        return self.inner.tell()

    def seek(self, offset: int, whence: int = 0) -> int:
        if whence == 0 and offset > self.budget:
            raise _TooBig(offset)
        pos = self.inner.seek(offset, whence)
        if pos > self.budget:
            raise _TooBig(pos)
        return pos

    def read(self, n: int = -1) -> bytes:
        if n is None or n < 0 or n > MAX_HEADER_READ:
            raise _TooBig(n)
        block = self.inner.read(n)
        if self.inner.tell() > self.budget:
            raise _TooBig(self.inner.tell())
        return block

    def readinto(self, b) -> int:
        data = self.read(len(b))
        b[: len(data)] = data
        return len(data)


def _open_tar_stream(path: Path):
    """The file, through the decompressor its magic bytes name (gzip, bzip2, xz), else as is."""
    raw = open(path, "rb")
    head = raw.read(6)
    raw.seek(0)
    if head.startswith(b"\x1f\x8b"):
        return gzip.GzipFile(fileobj=raw, mode="rb"), raw
    if head.startswith(b"BZh"):
        return bz2.BZ2File(raw, mode="rb"), raw
    if head.startswith(b"\xfd7zXZ\x00"):
        return lzma.LZMAFile(raw, mode="rb"), raw
    return raw, raw


def _list_tar(t: tarfile.TarFile, limits: ArchiveLimits) -> tuple[list[_Member], list[str]]:
    """Members one header at a time, stopping as soon as the count or the declared sizes pass the limits."""
    members, problems = [], []
    declared = count = 0
    while True:
        info = t.next()
        if info is None:
            break
        count += 1
        if count > limits.max_members:
            problems.append(f"more than the {limits.max_members} members a submission of this split can hold")
            break
        why = _member_problem(info.name)
        if why is None and (info.issym() or info.islnk()):
            why = f"link to {_shown(info.linkname)} (submissions hold plain files only)"
        elif why is None and not (info.isfile() or info.isdir()):
            why = "not a regular file or folder (device, FIFO ...)"
        elif why is None and info.issparse():
            why = "sparse file (not supported)"
        if why:
            problems.append(f"archive member {_shown(info.name)}: {why}")
            continue
        if info.isfile():
            declared += info.size
            if declared > limits.max_total_bytes:
                problems.append(f"unpacks to more than the {limits.max_total_bytes} bytes a submission of this "
                                f"split can need")
                break
        members.append(_Member(info.name, info.isdir(), info.size, info))
    return members, problems


def _copy_bounded(src, dst, limit: int, name: str) -> int:
    """Copy at most `limit` bytes; more means the archive lied about the size (or is a bomb)."""
    written = 0
    while block := src.read(_CHUNK):
        written += len(block)
        if written > limit:
            raise SubmissionError(f"archive member {_shown(name)}: unpacks to more than {limit} bytes; refused")
        dst.write(block)
    return written


def _refused(path: Path, problems: list[str]) -> SubmissionError:
    shown = problems[:20] + ([f"... and {len(problems) - 20} more"] if len(problems) > 20 else [])
    return SubmissionError(f"{path.name}: archive refused, nothing was unpacked:\n" +
                           "\n".join(f"  - {p}" for p in shown))


def unpack_archive(path: Path, dest: Path, limits: ArchiveLimits = ArchiveLimits()) -> None:
    """Check every member, then unpack into the empty folder `dest`; SubmissionError lists every problem.

    The archive file itself must not be larger than the limits; a compressed tar is listed through a stream
    that stops inflating at the byte limit; zip members are refused when encrypted or compressed with a method
    other than stored/deflate/bzip2/lzma; names that are too long, named twice, or both a file and a folder
    refuse the archive before anything is written."""
    path = Path(path)
    try:
        size = path.stat().st_size
    except OSError as exc:
        raise SubmissionError(f"{path.name}: unreadable ({exc.strerror or exc})") from exc
    if size > limits.max_total_bytes:
        raise _refused(path, [f"the archive is {size} bytes, more than the {limits.max_total_bytes} a submission "
                              f"of this split can need"])
    closers = []
    try:
        if path.name.lower().endswith(ZIP_SUFFIXES):
            archive = zipfile.ZipFile(path)
            closers.append(archive)
            if len(archive.infolist()) > limits.max_members:
                raise _refused(path, [f"{len(archive.infolist())} members, more than the {limits.max_members} a "
                                      f"submission of this split can hold"])
            members, problems = _list_zip(archive)
            opener = lambda m: archive.open(m.handle)  # noqa: E731
        else:
            inner, raw = _open_tar_stream(path)
            closers += [raw, inner]
            archive = tarfile.open(fileobj=_BoundedStream(inner, limits.max_total_bytes + (1 << 20)), mode="r:")
            closers.append(archive)
            members, problems = _list_tar(archive, limits)
            opener = lambda m: archive.extractfile(m.handle)  # noqa: E731
    except SubmissionError:
        for c in reversed(closers):
            c.close()
        raise
    except _TooBig as exc:
        for c in reversed(closers):
            c.close()
        raise _refused(path, [f"inflates to more than the {limits.max_total_bytes} bytes a submission of this "
                              f"split can need (or holds an oversized header)"]) from exc
    except _READ_ERRORS as exc:
        for c in reversed(closers):
            c.close()
        raise SubmissionError(f"{path.name}: not a readable archive ({type(exc).__name__}: "
                              f"{str(exc)[:200]})") from exc
    try:
        declared = sum(m.size for m in members if not m.is_dir)
        if declared > limits.max_total_bytes:
            problems.append(f"{path.name}: unpacks to {declared} bytes, more than the {limits.max_total_bytes} "
                            f"a submission of this split can need")
        problems += _layout_problems(members)
        if problems:
            raise _refused(path, problems)
        total = 0
        root = dest.resolve()
        for m in members:
            parts = _safe_parts(m.name)
            if not parts:
                continue
            target = root.joinpath(*parts)
            # Belt and braces: the name checks above already exclude this.
            if root not in target.resolve().parents:
                raise SubmissionError(f"archive member {_shown(m.name)}: resolves outside the submission")
            try:
                if m.is_dir:
                    target.mkdir(parents=True, exist_ok=True)
                    continue
                target.parent.mkdir(parents=True, exist_ok=True)
                with opener(m) as src, open(target, "xb") as dst:
                    total += _copy_bounded(src, dst, min(limits.max_member_bytes, limits.max_total_bytes - total),
                                           m.name)
            except FileExistsError as exc:
                raise SubmissionError(f"archive member {_shown(m.name)}: appears twice in the archive") from exc
            except _TooBig as exc:
                raise SubmissionError(f"archive member {_shown(m.name)}: inflates past the limits; refused") from exc
            except _READ_ERRORS as exc:
                raise SubmissionError(f"archive member {_shown(m.name)}: cannot be unpacked ({type(exc).__name__}: "
                                      f"{str(exc)[:200]})") from exc
    finally:
        for c in reversed(closers):
            c.close()


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
