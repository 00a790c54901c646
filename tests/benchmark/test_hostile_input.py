"""Hostile input: what a stranger's submission, a crafted results store or split, or a wrong setting can do to
the scorer and the leaderboard. Each must end in a clear refusal naming the fault (exit status 2 on the command
line, no traceback, nothing written outside the output folders, the store unchanged) or in a correct result.
Real SQLite files, real archives, real PyAV videos throughout."""
import csv
import gzip
import hashlib
import io
import json
import shutil
import sqlite3
import tarfile
import time
import zipfile
from pathlib import Path

import pytest

from hmworld.benchmark import (CSV_COLUMNS, BenchmarkError, SubmissionError, build_leaderboard,
                               read_submission_info, score_submission)
from hmworld.benchmark.scoring import ScoreConfig
from hmworld.benchmark.archive import unpack_archive
from hmworld.benchmark.scoring import archive_limits
from hmworld.benchmark.text import csv_cell, md_cell, plain, terminal
from hmworld.split import Split
from tests.benchmark.testlib import gt_copy, make_submission
from tests.testlib import run_cli


@pytest.fixture(scope="module")
def good(small_split, tmp_path_factory) -> Path:
    return make_submission(small_split, tmp_path_factory.mktemp("hostile-good") / "sub", gt_copy, "gt-copy")


@pytest.fixture(scope="module")
def scored(small_split, good, tmp_path_factory) -> Path:
    """A results store holding one psnr-scored submission (copied by each test that edits it)."""
    store = tmp_path_factory.mktemp("hostile-store") / "results.sqlite"
    score_submission(ScoreConfig(good, small_split, store, metrics=["psnr"]))
    return store


def _copy(src: Path, dst: Path) -> Path:
    if src.is_dir():
        shutil.copytree(src, dst, symlinks=True)
    else:
        dst.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(src, dst)
    return dst


def _sha(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _tree(root: Path) -> list[str]:
    return sorted(str(p.relative_to(root)) for p in root.rglob("*"))


def _refused(proc, *needles: str) -> str:
    """Exit status 2, the message on stderr, no traceback."""
    err = proc.stderr
    assert proc.returncode == 2, (proc.returncode, proc.stdout, err)
    assert "Traceback" not in err and "Traceback" not in proc.stdout, err
    assert "error: " in err, err
    for n in needles:
        assert n in err, (n, err)
    return err


def _with_yaml(good: Path, dst: Path, text: str | bytes) -> Path:
    sub = _copy(good, dst)
    data = text.encode() if isinstance(text, str) else text
    (sub / "submission.yaml").write_bytes(data)
    return sub


# ---------------------------------------------------------------------------------------------- submission.yaml

def test_yaml_alias_bomb_is_refused_at_once(good, small_split, tmp_path):
    lines = ['a0: &a0 ["lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol"]']
    lines += [f"a{i}: &a{i} [{', '.join([f'*a{i - 1}'] * 9)}]" for i in range(1, 10)]
    lines.append("model: *a9")
    sub = _with_yaml(good, tmp_path / "bomb", "\n".join(lines) + "\n")
    assert (sub / "submission.yaml").stat().st_size < 2000
    t = time.perf_counter()
    with pytest.raises(SubmissionError, match=r"submission.yaml: unreadable YAML: .*more than 8 YAML aliases"):
        read_submission_info(sub)
    assert time.perf_counter() - t < 1.0
    store = tmp_path / "r.sqlite"
    proc = run_cli("score", f"submission={sub}", f"split={small_split}", f"results={store}", "metrics=[psnr]",
                   "progress=false", check=False, timeout=120)
    _refused(proc, "submission.yaml", "aliases")
    assert not store.exists()


@pytest.mark.parametrize("text, needle", [
    ("model: " + "x" * 70_000 + "\n", "larger than 65536 bytes; refused unparsed"),
    ("a: " + "[" * 40 + "]" * 40 + "\n", "nested deeper than 8 levels"),
    ("model: m\nsplit_fingerprint: f\nfps: 15\nincludes_context: false\nformat_version: 1\n"
     "description: " + "d" * 5000 + "\n", "field `description` is 5000 characters long, at most 4000"),
    ('model: "a\\x1b]8;;http://x\\x07b"\nsplit_fingerprint: f\nfps: 15\nincludes_context: false\nformat_version: 1\n',
     "field `model` holds control characters"),
    ('model: "a\\rb"\nsplit_fingerprint: f\nfps: 15\nincludes_context: false\nformat_version: 1\n',
     "field `model` holds control characters"),
    ("model: m\nsplit_fingerprint: f\nfps: .inf\nincludes_context: false\nformat_version: 1\n",
     "fps must be a positive number up to 1000"),
    ("{? [1, 2]: 3, format_version: 1}\n", "unreadable YAML"),
    ("{1: 2, model: m, split_fingerprint: f, fps: 15, includes_context: false, format_version: 1}\n",
     "unknown field(s) 1"),
    (b"model: \xff\xfe\n", "not UTF-8 text"),
])
def test_submission_yaml_limits(good, tmp_path, text, needle):
    sub = _with_yaml(good, tmp_path / "sub", text)
    with pytest.raises(SubmissionError) as err:
        read_submission_info(sub)
    assert needle in str(err.value)
    assert len(str(err.value)) < 2000


# ---------------------------------------------------------------------------------------------- archives

class _Zeros(io.RawIOBase):
    def __init__(self, n: int):
        self.n = n

    def readable(self) -> bool:
        return True

    def readinto(self, b) -> int:
        k = min(len(b), self.n)
        b[:k] = bytes(k)
        self.n -= k
        return k


def test_compressed_tar_bomb_is_refused_without_inflating_it(small_split, good, tmp_path):
    limits = archive_limits(Split(small_split))
    bomb = tmp_path / "bomb.tar.gz"
    per = limits.max_member_bytes - 1        # each member plausible on its own, together far too much
    with tarfile.open(bomb, "w:gz", compresslevel=1) as t:
        t.add(good / "submission.yaml", "submission.yaml")
        for i in range(60):
            info = tarfile.TarInfo(f"clip{i}.mp4")
            info.size = per
            t.addfile(info, io.BufferedReader(_Zeros(per)))
    assert bomb.stat().st_size < 2 << 20 and 60 * per > 20 * bomb.stat().st_size
    out = tmp_path / "out"
    out.mkdir()
    t0 = time.perf_counter()
    with pytest.raises(SubmissionError) as err:
        unpack_archive(bomb, out, limits)
    assert time.perf_counter() - t0 < 5
    assert "archive refused, nothing was unpacked" in str(err.value) and "unpacks to more than" in str(err.value)
    assert list(out.iterdir()) == []

    # a gzip stream that inflates past the limit inside one member's padding-free data (undeclared: the member
    # claims little, the stream is read only as far as the limit)
    huge = tmp_path / "huge.tar.gz"
    raw = io.BytesIO()
    with tarfile.open(fileobj=raw, mode="w") as t:
        info = tarfile.TarInfo("a.mp4")
        info.size = 10
        t.addfile(info, io.BytesIO(b"0123456789"))
    with gzip.open(huge, "wb", compresslevel=1) as g:
        g.write(raw.getvalue()[:512])                          # header of a.mp4 ...
        g.write(b"0123456789" + bytes(502))                    # ... its data block ...
        hdr = tarfile.TarInfo("b.mp4")
        hdr.size = limits.max_total_bytes + 1                  # ... then a member past the byte limit
        g.write(hdr.tobuf())
    with pytest.raises(SubmissionError, match="unpacks to more than"):
        unpack_archive(huge, out, limits)
    assert list(out.iterdir()) == []


def _zip_with(tmp_path: Path, name: str, entries: list[tuple[str, bytes]]) -> Path:
    path = tmp_path / name
    with zipfile.ZipFile(path, "w") as z:
        for n, data in entries:
            z.writestr(n, data)
    return path


def _patch_zip(path: Path, flag_or: int = 0, method: int | None = None) -> None:
    """Set general-purpose flag bits / the compression method in every local and central header."""
    b = bytearray(path.read_bytes())
    for sig, flag_at, method_at in ((b"PK\x03\x04", 6, 8), (b"PK\x01\x02", 8, 10)):
        i = b.find(sig)
        while i >= 0:
            b[i + flag_at] |= flag_or
            if method is not None:
                b[i + method_at:i + method_at + 2] = method.to_bytes(2, "little")
            i = b.find(sig, i + 4)
    path.write_bytes(bytes(b))


@pytest.mark.parametrize("kind, needle", [
    ("encrypted", "encrypted (submissions must not be encrypted)"),
    ("unknown-method", "compression method 99 is not supported"),
    ("file-and-folder", "is both a file and a folder"),
    ("twice", "appears twice in the archive"),
    ("long-name", "name too long"),
    ("not-an-archive", "not a readable archive"),
])
def test_malformed_archives_are_refused_on_the_command_line(small_split, good, tmp_path, kind, needle):
    import warnings

    files = [(f.name, f.read_bytes()) for f in sorted(good.iterdir())]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")           # zipfile warns about the duplicate name we write on purpose
        if kind == "file-and-folder":
            path = _zip_with(tmp_path, "s.zip", files + [(files[0][0] + "/inner.mp4", b"x")])
        elif kind == "twice":
            path = _zip_with(tmp_path, "s.zip", files + [files[0]])
        elif kind == "long-name":
            path = _zip_with(tmp_path, "s.zip", files + [("x" * 300 + ".mp4", b"x")])
        elif kind == "not-an-archive":
            path = tmp_path / "s.tar.gz"
            path.write_bytes(b"\x1f\x8b" + b"junk" * 100)
        else:
            path = _zip_with(tmp_path, "s.zip", files)
            _patch_zip(path, flag_or=1) if kind == "encrypted" else _patch_zip(path, method=99)
    store = tmp_path / "r.sqlite"
    before = _tree(tmp_path)
    proc = run_cli("score", f"submission={path}", f"split={small_split}", f"results={store}", "metrics=[psnr]",
                   "progress=false", check=False, timeout=120)
    _refused(proc, needle, path.name)
    assert _tree(tmp_path) == before


# ---------------------------------------------------------------------------------------------- untrusted text

def test_text_helpers():
    evil = "a\x1b[31mred\x1b[0m\x1b]8;;javascript:x\x07link\x1b]8;;\x07\r\nb\u202etxt\x9b2J\x00"
    assert plain(evil) == "aredlink  btxt"
    assert terminal("[/][bold]x") == "\\[/]\\[bold]x"
    assert [csv_cell(s) for s in ("=1+1", "+1", "-2", "@SUM(A1)", "ok", "\tx")] == \
        ["'=1+1", "'+1", "'-2", "'@SUM(A1)", "ok", " x"]
    md = md_cell('<img src=x onerror=alert(1)> [a](javascript:alert(1)) | b\rc')
    assert "<" not in md.replace("\\<", "") and "|" not in md.replace("\\|", "") and "\r" not in md
    assert "](" not in md and "javascript:" not in md


def _poke(store: Path, sql: str, *args) -> None:
    with sqlite3.connect(store) as db:
        db.execute(sql, args)


def test_crafted_names_in_the_store_are_escaped_everywhere(scored, tmp_path):
    store = _copy(scored, tmp_path / "crafted.sqlite")
    name = "=HYPERLINK(\"http://x\")\r| <script>alert(1)</script> [a](javascript:alert(1)) [/]\x1b[2J[bold]"
    _poke(store, "UPDATE submissions SET model=?", name)
    site = tmp_path / "site"
    proc = run_cli("leaderboard", f"results={store}", f"out={site}", check=False, timeout=120)
    assert proc.returncode == 0, proc.stderr
    assert "\x1b[2J" not in proc.stdout and "Traceback" not in proc.stderr
    assert "[/]" in proc.stdout                                  # shown literally, not taken as markup
    text = (site / "leaderboard.csv").read_text()
    csv_rows = list(csv.reader(io.StringIO(text)))
    assert len(text.splitlines()) == 2 and "\r" not in text
    assert len(csv_rows) == 2 and csv_rows[1][0].startswith("'=HYPERLINK")
    md = (site / "leaderboard.md").read_text()
    row = [ln for ln in md.splitlines() if "HYPERLINK" in ln]
    assert len(row) == 1 and row[0].count(" | ") == len(CSV_COLUMNS) - 2   # one row (#, no fingerprint), no extra cell
    assert "<script>" not in md and "](javascript" not in md and "\x1b" not in md and "\r" not in md
    page = (site / "index.html").read_text()
    assert "<script>alert" not in page and "\x1b" not in page and "&lt;script&gt;" in page


def test_crafted_model_name_through_score_cli(small_split, good, tmp_path):
    sub = _copy(good, tmp_path / "sub")
    info = (sub / "submission.yaml").read_text().replace("model: gt-copy", "model: '[/][bold]=x|<b>'")
    (sub / "submission.yaml").write_text(info)
    store = tmp_path / "r.sqlite"
    proc = run_cli("score", f"submission={sub}", f"split={small_split}", f"results={store}", "metrics=[psnr]",
                   "progress=false", check=False, timeout=180)
    assert proc.returncode == 0, proc.stderr
    assert "[/][bold]=x|<b>" in proc.stdout


# ---------------------------------------------------------------------------------------------- stores

def test_unrelated_sqlite_file_is_refused_untouched(small_split, good, tmp_path):
    other = tmp_path / "app.sqlite"
    with sqlite3.connect(other) as db:
        db.execute("CREATE TABLE users (name TEXT)")
        db.execute("INSERT INTO users VALUES ('alice')")
    text = tmp_path / "notes.sqlite"
    text.write_text("not a database\n")
    for f in (other, text):
        before = _sha(f)
        with pytest.raises(BenchmarkError, match="not a results store|not an SQLite database"):
            score_submission(ScoreConfig(good, small_split, f, metrics=["psnr"]))
        proc = run_cli("leaderboard", f"results={f}", f"out={tmp_path / 'site'}", check=False, timeout=120)
        _refused(proc, f.name)
        assert _sha(f) == before
    assert not (tmp_path / "site").exists()
    with sqlite3.connect(other) as db:
        assert [r[0] for r in db.execute("SELECT name FROM sqlite_master")] == ["users"]


@pytest.mark.parametrize("sql, args, needle", [
    ("UPDATE scores SET value=?", ("abc",), "is not a finite number"),
    ("UPDATE scores SET details=?", ("{not json",), "is not a JSON dict"),
    ("UPDATE submissions SET info=?", ("[1]",), "is not a JSON dict"),
    ("UPDATE clips SET problems=?", ("7",), "is not a JSON list"),
])
def test_damaged_store_rows_are_refused(scored, tmp_path, sql, args, needle):
    store = _copy(scored, tmp_path / "damaged.sqlite")
    _poke(store, sql, *args)
    before = _sha(store)
    with pytest.raises(BenchmarkError) as err:
        build_leaderboard(store, tmp_path / "site")
    assert needle in str(err.value) and "damaged" in str(err.value)
    assert _sha(store) == before and not (tmp_path / "site").exists()


@pytest.mark.parametrize("column, value", [
    ("clip_id", "../../../escaped"), ("source", ".."), ("split_fingerprint", "../x/../../y"), ("clip_id", "a/b"),
])
def test_thumbnail_names_from_the_store_never_leave_out(small_split, good, scored, tmp_path, column, value):
    store = _copy(scored, tmp_path / "deep" / "evil.sqlite")
    with sqlite3.connect(store) as db:
        fp, src, clip, frame, mime, data = db.execute("SELECT * FROM thumbnails WHERE source='gt' LIMIT 1").fetchone()
        row = {"split_fingerprint": fp, "source": src, "clip_id": clip}
        row[column] = value
        if column == "split_fingerprint":
            db.execute("UPDATE submissions SET split_fingerprint=?", (value,))
            db.execute("UPDATE clips SET split_fingerprint=?", (value,))
            db.execute("UPDATE scores SET split_fingerprint=?", (value,))
            db.execute("UPDATE metric_status SET split_fingerprint=?", (value,))
        if column == "source":
            db.execute("UPDATE thumbnails SET source=? WHERE source != 'gt'", (value,))
            db.execute("UPDATE submissions SET submission_id=?", (value,))
            for t in ("clips", "scores", "metric_status"):
                db.execute(f"UPDATE {t} SET submission_id=?", (value,))
        else:
            db.execute("INSERT INTO thumbnails VALUES (?,?,?,?,?,?)",
                       (row["split_fingerprint"], row["source"], row["clip_id"], frame, mime, data))
    before = _tree(tmp_path)
    site = tmp_path / "deep" / "site"
    proc = run_cli("leaderboard", f"results={store}", f"out={site}", check=False, timeout=120)
    _refused(proc, "not a safe file name", "nothing was written")
    assert _tree(tmp_path) == before


# ---------------------------------------------------------------------------------------------- settings

def test_settings_are_checked(small_split, good, scored, tmp_path):
    for kwargs, needle in (({"metrics": []}, "metrics=[]: empty"), ({"threads": -1}, "threads=-1: must be at least 1"),
                           ({"limit": -2}, "limit=-2: must be at least 0"), ({"workers": 0}, "workers=0"),
                           ({"shard": 3, "num_shards": 2}, "need 0 <= shard < num_shards"),
                           ({"threads": "many"}, "threads='many': expected a whole number")):
        with pytest.raises(BenchmarkError, match=needle.replace("[", r"\[").replace("]", r"\]")):
            score_submission(ScoreConfig(good, small_split, tmp_path / "r.sqlite", **kwargs))
    assert not (tmp_path / "r.sqlite").exists()
    proc = run_cli("score", f"submission={good}", f"split={small_split}", f"results={tmp_path / 'r.sqlite'}",
                   "metrics=[]", "progress=false", check=False, timeout=120)
    _refused(proc, "metrics=[]: empty")
    a_file = tmp_path / "taken.txt"
    a_file.write_text("mine")
    proc = run_cli("leaderboard", f"results={scored}", f"out={a_file}", check=False, timeout=120)
    _refused(proc, "taken.txt: exists and is not a folder")
    assert a_file.read_text() == "mine"


# ---------------------------------------------------------------------------------------------- ground truth

def test_ground_truth_edited_after_scoring_is_refused(small_split, good, tmp_path):
    split = _copy(small_split, tmp_path / "split")
    store = tmp_path / "r.sqlite"
    score_submission(ScoreConfig(good, split, store, metrics=["psnr"]))
    before = _sha(store)
    sp = Split(split)
    victim = sp.clip_ids[1]
    video = sp[victim].video_path
    data = bytearray(video.read_bytes())
    data[-100] ^= 0xFF                                   # one byte of the ground truth changed
    video.write_bytes(bytes(data))
    proc = run_cli("score", f"submission={good}", f"split={split}", f"results={store}", "metrics=[psnr]",
                   "progress=false", check=False, timeout=180)
    err = _refused(proc, f"clip {victim}", "ground truth does not match its fingerprint", "nothing was scored")
    assert sum(c in err for c in sp.clip_ids) == 1
    assert _sha(store) == before


def test_clip_ids_from_a_split_never_name_files_outside(small_split, tmp_path):
    import pandas as pd

    from hmworld.benchmark import predict_baseline

    split = _copy(small_split, tmp_path / "split")
    m = pd.read_parquet(split / "manifest.parquet")
    m.loc[0, "clip_id"] = "../../escaped"
    m.to_parquet(split / "manifest.parquet")
    before = _tree(tmp_path)
    with pytest.raises(BenchmarkError, match=r"clip id '\.\./\.\./escaped' is not a safe file name"):
        predict_baseline("repeat-last", split, tmp_path / "box" / "out")
    assert _tree(tmp_path) == before


def test_manifest_edited_to_match_an_edited_video_is_refused(small_split, good, tmp_path):
    import pandas as pd

    split = _copy(small_split, tmp_path / "split")
    sp = Split(split)
    victim = sp.clip_ids[0]
    video = sp[victim].video_path
    data = bytearray(video.read_bytes())
    data[-100] ^= 0xFF
    video.write_bytes(bytes(data))
    m = pd.read_parquet(split / "manifest.parquet")
    m.loc[m["clip_id"] == victim, "video_sha256"] = hashlib.sha256(bytes(data)).hexdigest()
    m.to_parquet(split / "manifest.parquet")
    with pytest.raises(BenchmarkError, match="the manifest was edited after the split was written"):
        score_submission(ScoreConfig(good, split, tmp_path / "r.sqlite", metrics=["psnr"]))
    assert not (tmp_path / "r.sqlite").exists()


def test_crafted_file_names_in_a_submission_are_shown_escaped(small_split, good, tmp_path):
    sub = _copy(good, tmp_path / "sub")
    (sub / "[bold][link=javascript:x]\x1b[2Jx.txt").write_text("?")
    store = tmp_path / "r.sqlite"
    for partial in ("false", "true"):
        proc = run_cli("score", f"submission={sub}", f"split={small_split}", f"results={store}", "metrics=[psnr]",
                       "progress=false", f"partial={partial}", check=False, timeout=180)
        out = proc.stdout + proc.stderr
        assert "Traceback" not in out and "\x1b[2J" not in out and "[bold][link=javascript:x]" in out, out
        if partial == "false":
            _refused(proc, "extra file")
            assert not store.exists()
        else:
            assert proc.returncode == 0 and "ignored: " in proc.stdout


def test_oversized_text_in_a_store_is_cut_on_the_page(scored, tmp_path):
    store = _copy(scored, tmp_path / "big.sqlite")
    with sqlite3.connect(store) as db:
        (info,) = db.execute("SELECT info FROM submissions").fetchone()
        info = json.loads(info)
        info["description"] = "d" * 2_000_000
        db.execute("UPDATE submissions SET model=?, info=?", ("m" * 100_000, json.dumps(info)))
    lb = build_leaderboard(store, tmp_path / "site")
    assert (tmp_path / "site" / "index.html").stat().st_size < 100_000
    assert len(lb.groups[0].rows[0].model) == 200


def test_merge_refuses_foreign_files_on_either_side(scored, tmp_path):
    from hmworld.benchmark import merge_stores

    other = tmp_path / "app.sqlite"
    with sqlite3.connect(other) as db:
        db.execute("CREATE TABLE users (name TEXT)")
    before = _sha(other)
    with pytest.raises(BenchmarkError, match="not a results store"):
        merge_stores([scored], other)
    with pytest.raises(BenchmarkError, match="not a results store"):
        merge_stores([other], tmp_path / "merged.sqlite")
    assert _sha(other) == before
