"""The 0 A.D. subset: which meshes, animations and textures of Debian's `0ad-data` the catalog's subjects use,
where they are cached, and how they get there.

`hmworld assets` (or scripts/fetch_assets.sh) downloads the package with `apt-get download` (no root, nothing
installed system-wide), streams the one big zip inside it through a local-header reader and keeps only the
files named here, under `asset_cache_dir()` (outside the checkout; reused by every clone on the machine). A
manifest records each file's sha256 and size, the package version and its licence; a second run verifies
and does nothing. Art in 0ad-data is CC-BY-SA 3.0 (Wildfire Games): rendered data made from it must credit
Wildfire Games / 0 A.D. and be shared under the same licence.
"""
from __future__ import annotations

import hashlib
import json
import os
import struct
import subprocess
import tarfile
import time
import zlib
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Iterable

from hmworld.errors import HMWorldError

PACKAGE = "0ad-data"
VERSION = "0.0.26-1"
LICENCE = "CC-BY-SA-3.0"
LICENCE_TEXT = ("0 A.D. art (meshes, animations, textures) by Wildfire Games, CC-BY-SA 3.0 "
                "(https://creativecommons.org/licenses/by-sa/3.0/); Debian package 0ad-data, see copyright")
ZIP_MEMBER = "./usr/share/games/0ad/mods/public/public.zip"
COPYRIGHT_MEMBER = "./usr/share/doc/0ad-data/copyright"
INSTALL_COMMAND = "hmworld assets"
MANIFEST = "manifest.json"


class AssetsMissing(HMWorldError):
    """The asset cache is absent or incomplete."""


def mesh_path(name: str) -> str:
    return f"art/meshes/{name}.dae.cached.pmd"


def anim_path(name: str) -> str:
    return f"art/animation/{name}.dae.cached.psa"


def texture_path(name: str) -> str:
    return f"art/textures/skins/{name}.cached.dds"


@dataclass(frozen=True)
class Head:
    mesh: str
    textures: tuple[str, ...]
    prop_point: str = "head"


@dataclass(frozen=True)
class AssetSpec:
    """One skinned subject model: mesh, walk and idle cycles, texture variants (first is the default).
    material "player": the texture's alpha marks regions painted with the subject's colour (0 A.D.'s
    player_trans); "alpha": alpha below one half is cut out (basic_trans: feathers, fur); "recolour": white
    and grey cloth takes the subject's colour (a plain robe becomes "a man in a red ..."); "alpha_recolour":
    both (the grey wolfhound's fur takes a golden, black or orange dog's coat); "opaque": as is."""

    mesh: str
    walk: str
    idle: str
    textures: tuple[str, ...]
    material: str = "opaque"
    head: Head | None = None
    coco: str = ""

    def files(self) -> list[str]:
        out = [mesh_path(self.mesh), anim_path(self.walk), anim_path(self.idle)]
        out += [texture_path(t) for t in self.textures]
        if self.head is not None:
            out += [mesh_path(self.head.mesh)] + [texture_path(t) for t in self.head.textures]
        return out


ASSETS: dict[str, AssetSpec] = {
    "man": AssetSpec("skeletal/new/m_tunic_long", "biped/citizen/walk_relax_m", "biped/citizen/idle_relax_f",
                     ("skeletal/han/tunic_01_01.png",), "recolour",
                     Head("props/new/dude_head", ("props/head/hele_b.dds", "props/head/generic_a.dds")), "person"),
    "woman": AssetSpec("skeletal/new/f_dress", "biped/citizen/walk_relax_f", "biped/citizen/idle_relax_f",
                       ("skeletal/celt/dress_female_01_01.png",), "player",
                       Head("props/new/dudette_head_a", ("props/head/celt_fem_a.dds",)), "person"),
    "horse": AssetSpec("skeletal/horse_celtic", "quadraped/horse_walk", "quadraped/horse_idle_01",
                       ("skeletal/horse_brown.png", "skeletal/horse_black.png", "skeletal/horse_white.png"),
                       coco="horse"),
    "sheep": AssetSpec("skeletal/sheep", "quadraped/sheep_walk", "quadraped/sheep_idle_01",
                       ("skeletal/animal_sheep_a.dds",), "player", coco="sheep"),
    "cow": AssetSpec("skeletal/cattle_female_a", "quadraped/bovidae_walk_relax", "quadraped/bovidae_idle_a",
                     ("skeletal/animal_cattle_beige.png", "skeletal/animal_cattle_black_and_white.png"), coco="cow"),
    "elephant": AssetSpec("skeletal/elephant_african_bush", "quadraped/elephant_african_bush_walk",
                          "quadraped/elephant_african_bush_idle_01", ("skeletal/animal-elephant-base.dds",),
                          coco="elephant"),
    "bear": AssetSpec("skeletal/bear", "quadraped/bear_walk", "quadraped/bear_idle_01",
                      ("skeletal/animal_bear_brown.png", "skeletal/animal_bear_black.png"), coco="bear"),
    "zebra": AssetSpec("skeletal/zebra", "quadraped/zebra_walk", "quadraped/zebra_idle",
                       ("skeletal/animal_zebra.dds",), coco="zebra"),
    "giraffe": AssetSpec("skeletal/giraffe_adult", "quadraped/giraffe_adult_walk", "quadraped/giraffe_adult_idle_01",
                         ("skeletal/animal_giraffe.png", "skeletal/animal_giraffeb.png"), coco="giraffe"),
    "wolfhound": AssetSpec("skeletal/wolfhound", "quadraped/wolfhound_walk", "quadraped/wolfhound_idle1",
                           ("skeletal/brit/wolfhound.png",), "alpha_recolour", coco="dog"),
    "wolf": AssetSpec("skeletal/wolf", "quadraped/wolf_walk", "quadraped/wolf_idle_01",
                      ("skeletal/animal_wolf_grey.png", "skeletal/animal_wolf.png"), coco="dog"),
    "chicken": AssetSpec("skeletal/chicken", "quadraped/chicken_walk", "quadraped/chicken_idle_01",
                         ("skeletal/animal_chicken.dds", "skeletal/animal_chicken_b.dds"), coco="bird"),
    "peacock": AssetSpec("skeletal/peacock", "quadraped/peacock_walk", "quadraped/peacock_idle",
                         ("skeletal/animal_peacock.png",), "alpha", coco="bird"),
}

# Catalog subject -> (asset, texture variant index). Subjects not listed use their COCO class's default.
# No domestic cat exists in 0ad-data, and a fox or a lion cub would be another class to a detector: the catalog's
# three cats were replaced by a hen, a lamb and a puppy (render_configs/README.md says why).
SUBJECT_OVERRIDES: dict[str, tuple[str, int]] = {
    "horse_black": ("horse", 1), "horse_white": ("horse", 2), "bear_black": ("bear", 1),
    "cow_holstein": ("cow", 1), "dog_husky": ("wolf", 0), "giraffe_young": ("giraffe", 1),
    "ostrich": ("peacock", 0),
}
DEFAULT_BY_CLASS = {"horse": "horse", "sheep": "sheep", "cow": "cow", "elephant": "elephant", "bear": "bear",
                    "zebra": "zebra", "giraffe": "giraffe", "dog": "wolfhound", "bird": "chicken"}
FEMALE_WORDS = ("woman", "girl")


def head_variant(subject) -> int:
    """Which of the asset's head textures a person wears: fixed per subject name (crc32, not Python's salted
    hash), so two men in the catalog may have different faces and a subject always has the same one."""
    return zlib.crc32(subject.name.encode())


def asset_for_subject(subject) -> tuple[str, int] | None:
    """(asset name, texture variant) for a catalog SubjectSpec, or None where no asset exists (class cat)."""
    if subject.name in SUBJECT_OVERRIDES:
        return SUBJECT_OVERRIDES[subject.name]
    if subject.coco_name == "person":
        return ("woman" if subject.name.split("_")[0] in FEMALE_WORDS else "man"), 0
    asset = DEFAULT_BY_CLASS.get(subject.coco_name)
    return None if asset is None else (asset, 0)


def wanted_files(assets: Iterable[str] | None = None) -> list[str]:
    """The subset's files: the named subjects' assets; by default all of them and the scenery's terrain
    textures and static meshes (hmworld.assets.scenery, renderer.props_style=asset)."""
    names = ASSETS if assets is None else assets
    files = {f for n in names for f in ASSETS[n].files()}
    if assets is None:
        from hmworld.assets.scenery import scenery_files  # it imports this module's path helpers

        files |= set(scenery_files())
    return sorted(files)


# --------------------------------------------------------------------------------------------- the cache
def asset_cache_dir(root: str | os.PathLike | None = None) -> Path:
    """`root`, else $HMWORLD_ASSET_CACHE, else ${XDG_CACHE_HOME:-~/.cache}/hmworld/assets; one folder per
    package version under it."""
    base = root or os.environ.get("HMWORLD_ASSET_CACHE")
    if not base:
        base = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "hmworld" / "assets"
    return Path(base).expanduser() / f"0ad-{VERSION}"


def _sha256(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def verify_cache(cache: Path, files: Iterable[str] | None = None, hashes: bool = False) -> list[str]:
    """Problems with the cache (empty list: complete). Sizes always; sha256s when `hashes`."""
    manifest_path = cache / MANIFEST
    if not manifest_path.is_file():
        return [f"no asset cache at {cache} (no {MANIFEST})"]
    manifest = json.loads(manifest_path.read_text())
    entries = manifest.get("files", {})
    problems = []
    for rel in (wanted_files() if files is None else files):
        entry, path = entries.get(rel), cache / rel
        if entry is None:
            problems.append(f"{rel} is not in the manifest")
        elif not path.is_file() or path.stat().st_size != entry["size"]:
            problems.append(f"{rel} is missing or has the wrong size")
        elif hashes and _sha256(path) != entry["sha256"]:
            problems.append(f"{rel} does not match its sha256")
    return problems


def require_cache(root: str | os.PathLike | None = None, files: Iterable[str] | None = None) -> Path:
    """The cache folder, or AssetsMissing naming the command that installs it. Contents are checked against
    the manifest's sha256s too (~6 MB, milliseconds): a corrupted file is named here, not as a bad mesh later."""
    cache = asset_cache_dir(root)
    problems = verify_cache(cache, files, hashes=True)
    if problems:
        more = f" (and {len(problems) - 1} more)" if len(problems) > 1 else ""
        raise AssetsMissing(f"the 0 A.D. asset cache is missing or incomplete: {problems[0]}{more}. "
                            f"Install it with `{INSTALL_COMMAND}` (or scripts/fetch_assets.sh); it needs "
                            "apt-get and a 1.4 GB download, and keeps about 6 MB")
    return cache


def manifest(cache: Path) -> dict:
    return json.loads((cache / MANIFEST).read_text())


# ------------------------------------------------------------------------------------------ extraction
_LOCAL = struct.Struct("<IHHHHHIIIHH")  # signature .. extra length of a zip local file header
_LOCAL_SIG, _CENTRAL_SIG = 0x04034B50, 0x02014B50


def _read_exact(stream: IO[bytes], n: int) -> bytes:
    out = bytearray()
    while len(out) < n:
        chunk = stream.read(n - len(out))
        if not chunk:
            raise HMWorldError(f"0ad-data: the zip ended early ({len(out)} of {n} bytes)")
        out += chunk
    return bytes(out)


def _skip(stream: IO[bytes], n: int) -> None:
    while n > 0:
        chunk = stream.read(min(n, 1 << 20))
        if not chunk:
            raise HMWorldError("0ad-data: the zip ended early while skipping a member")
        n -= len(chunk)


def stream_zip_members(stream: IO[bytes], wanted: set[str]) -> Iterable[tuple[str, bytes]]:
    """Yield (name, data) for the wanted members of a zip read front to back (no seeking): each local file
    header gives the member's size, so members we do not want are skipped unread. CRC-32 is checked."""
    remaining = set(wanted)
    while remaining:
        head = stream.read(4)
        if len(head) < 4 or struct.unpack("<I", head)[0] == _CENTRAL_SIG:
            break  # the central directory follows the last member
        fields = _LOCAL.unpack(head + _read_exact(stream, _LOCAL.size - 4))
        sig, _, flags, method, _, _, crc, csize, usize, name_len, extra_len = fields
        if sig != _LOCAL_SIG:
            raise HMWorldError("0ad-data: unexpected bytes in the zip (not a local file header)")
        if flags & 0x08:
            raise HMWorldError("0ad-data: zip members with data descriptors are not supported")
        name = _read_exact(stream, name_len).decode("utf-8")
        extra = _read_exact(stream, extra_len)
        if 0xFFFFFFFF in (csize, usize):  # zip64: sizes in the extra field (tag 1)
            pos = 0
            while pos + 4 <= len(extra):
                tag, size = struct.unpack_from("<HH", extra, pos)
                if tag == 1:
                    usize, csize = struct.unpack_from("<QQ", extra, pos + 4)
                pos += 4 + size
        if name not in remaining:
            _skip(stream, csize)
            continue
        raw = _read_exact(stream, csize)
        if method == 0:
            data = raw
        elif method == 8:
            data = zlib.decompress(raw, -15)
        else:
            raise HMWorldError(f"0ad-data: {name} uses zip compression method {method}")
        if zlib.crc32(data) != crc or len(data) != usize:
            raise HMWorldError(f"0ad-data: {name} fails its CRC check")
        remaining.discard(name)
        yield name, data
    if remaining:
        raise HMWorldError(f"0ad-data: {len(remaining)} wanted files are not in the package, e.g. {sorted(remaining)[0]}")


def download_deb(work: Path) -> Path:
    """`apt-get download` the pinned package into `work` (kept there, so a rerun does not download again)."""
    work.mkdir(parents=True, exist_ok=True)
    existing = sorted(work.glob(f"{PACKAGE}_*.deb"))
    if existing:
        return existing[-1]
    try:
        # as root apt hands the download to its `_apt` user, which may not write here: it warns, then downloads
        # as root anyway; saying so up front drops the warning
        sandbox = ["-o", "APT::Sandbox::User=root"] if hasattr(os, "geteuid") and os.geteuid() == 0 else []
        subprocess.run(["apt-get", *sandbox, "download", f"{PACKAGE}={VERSION}"], cwd=work, check=True)
    except (OSError, subprocess.CalledProcessError) as exc:
        raise HMWorldError(f"`apt-get download {PACKAGE}={VERSION}` failed ({exc}); on Debian bookworm this "
                           "package is in main. Pass deb=PATH to use a downloaded .deb") from exc
    existing = sorted(work.glob(f"{PACKAGE}_*.deb"))
    if not existing:
        raise HMWorldError(f"apt-get download left no {PACKAGE} .deb in {work}")
    return existing[-1]


def extract(deb: Path, cache: Path, files: Iterable[str] | None = None) -> dict:
    """Stream the .deb's data through tar and the zip's local headers; write the wanted files and the
    manifest. Files land under a temporary name and are renamed once complete (an interrupted run leaves
    no half file that would pass the size check)."""
    wanted = set(wanted_files() if files is None else files)
    cache.mkdir(parents=True, exist_ok=True)
    entries: dict[str, dict] = {}
    copyright_text = None
    proc = subprocess.Popen(["dpkg-deb", "--fsys-tarfile", str(deb)], stdout=subprocess.PIPE)
    try:
        with tarfile.open(fileobj=proc.stdout, mode="r|") as tar:
            for member in tar:
                if member.name == COPYRIGHT_MEMBER:
                    copyright_text = tar.extractfile(member).read()
                elif member.name == ZIP_MEMBER:
                    for name, data in stream_zip_members(tar.extractfile(member), wanted):
                        path = cache / name
                        path.parent.mkdir(parents=True, exist_ok=True)
                        tmp = path.with_name(path.name + ".part")
                        tmp.write_bytes(data)
                        tmp.replace(path)
                        entries[name] = {"size": len(data), "sha256": hashlib.sha256(data).hexdigest()}
                if entries and copyright_text is not None:
                    break  # both found: the rest of the package is never decompressed
    finally:
        proc.stdout.close()
        proc.kill() if proc.poll() is None else None
        proc.wait()
    if set(entries) != wanted:
        raise HMWorldError(f"{deb} holds {len(entries)} of the {len(wanted)} wanted files")
    if copyright_text is not None:
        (cache / "copyright").write_bytes(copyright_text)
    version = subprocess.run(["dpkg-deb", "-f", str(deb), "Version"], capture_output=True, text=True).stdout.strip()
    data = {"package": PACKAGE, "version": version or VERSION, "licence": LICENCE, "licence_text": LICENCE_TEXT,
            "copyright_file": "copyright" if copyright_text is not None else None,
            "files": dict(sorted(entries.items()))}
    (cache / MANIFEST).write_text(json.dumps(data, indent=1) + "\n")
    return data


def cache_size(cache: Path) -> int:
    return sum(p.stat().st_size for p in cache.rglob("*") if p.is_file())


def fetch(root: str | os.PathLike | None = None, deb: str | os.PathLike | None = None, keep_deb: bool = False,
          log=print) -> Path:
    """Make the cache complete (idempotent): verify, else download (unless `deb` is given) and extract.
    The last line logged says where the cache is, its size and how long this took."""
    start = time.perf_counter()
    cache = asset_cache_dir(root)
    if not verify_cache(cache, hashes=True):
        log(f"asset cache complete: {cache} ({len(wanted_files())} files, {cache_size(cache) / 1e6:.1f} MB; "
            f"verified in {time.perf_counter() - start:.1f} s)")
        return cache
    work = cache.parent / ".download"
    path = Path(deb) if deb else download_deb(work)
    log(f"extracting {len(wanted_files())} files from {path} into {cache}")
    extract(path, cache)
    if not deb and not keep_deb:
        path.unlink(missing_ok=True)
        if work.is_dir() and not any(work.iterdir()):
            work.rmdir()
    problems = verify_cache(cache, hashes=True)
    if problems:
        raise HMWorldError(f"the asset cache is still incomplete after extraction: {problems[0]}")
    log(f"asset cache installed: {cache} ({len(wanted_files())} files, {cache_size(cache) / 1e6:.1f} MB; "
        f"{'extracted' if deb else 'downloaded and extracted'} in {time.perf_counter() - start:.0f} s)")
    return cache
