"""Validation: every problem at once, each naming its clip or file; archives that try to leave are refused
before anything is written; nothing is truncated, resized or allocated absurdly."""
import os
import shutil
import tarfile
import zipfile
from pathlib import Path

import pytest

from hmworld.benchmark import (SubmissionError, SubmissionInfo, open_submission, read_submission_info, score_submission,
                               validate_submission, write_submission_info)
from hmworld.benchmark.scoring import ScoreConfig
from hmworld.split import Split
from hmworld.video import write_video
from tests.benchmark.testlib import gt_copy, gt_with_context, make_submission, score_rows
from tests.testlib import run_cli


@pytest.fixture(scope="module")
def good(small_split, tmp_path_factory) -> Path:
    return make_submission(small_split, tmp_path_factory.mktemp("good") / "sub", gt_copy, "gt-copy")


def _copy(src: Path, dst: Path) -> Path:
    shutil.copytree(src, dst, symlinks=True)
    return dst


def test_four_problems_are_listed_each_naming_its_file(small_split, good, tmp_path):
    split = Split(small_split)
    a, b, c = split.clip_ids
    sub = _copy(good, tmp_path / "sub")
    (sub / f"{a}.mp4").unlink()                                                   # missing clip
    data = (sub / f"{b}.mp4").read_bytes()
    (sub / f"{b}.mp4").write_bytes(data[: len(data) // 2])                        # truncated mp4
    write_video(sub / f"{c}.mp4", split[c].target()[:-3], 15)                     # wrong frame count
    outside = tmp_path / "outside.mp4"
    outside.write_bytes(data)
    os.symlink(outside, sub / "link.mp4")                                         # symlink pointing outside

    proc = run_cli("score", f"submission={sub}", f"split={small_split}", f"results={tmp_path / 'r.sqlite'}",
                   "metrics=[psnr]", "progress=false", check=False)
    assert proc.returncode == 2, proc.stdout + proc.stderr
    err = proc.stderr
    assert "refused: 4 problems" in err
    lines = [ln.strip() for ln in err.splitlines() if ln.strip().startswith("- ")]
    assert len(lines) == 4, err
    assert any(ln.startswith(f"- {a}.mp4: missing") for ln in lines)
    assert any(ln.startswith(f"- {b}.mp4: cannot be opened") or ln.startswith(f"- {b}.mp4: does not decode")
               for ln in lines)
    assert any(ln.startswith(f"- {c}.mp4: ") and "18" in ln and "expected 21" in ln for ln in lines)
    assert any(ln.startswith("- link.mp4: symlink pointing outside") for ln in lines)
    assert "partial=true" in err
    assert not (tmp_path / "r.sqlite").exists() or score_rows(tmp_path / "r.sqlite") == []


def test_partial_scores_the_valid_clips_and_marks_the_rest(small_split, good, tmp_path):
    split = Split(small_split)
    a, b, c = split.clip_ids
    sub = _copy(good, tmp_path / "sub")
    write_video(sub / f"{b}.mp4", split[b].target()[:, :48, :80], 15)              # wrong size: never resized
    r = score_submission(ScoreConfig(sub, small_split, tmp_path / "r.sqlite", metrics=["psnr"], partial=True))
    assert r.valid == 2 and set(r.invalid) == {b}
    assert "frame size 80x48, expected 160x96" in r.invalid[b][0]
    assert r.scored == 2 and r.clips_aggregated == 2


def test_every_kind_of_fault_in_one_report(small_split, good, tmp_path):
    split = Split(small_split)
    a, b, c = split.clip_ids
    sub = _copy(good, tmp_path / "sub")
    write_video(sub / f"{a}.mp4", split[a].target(), 10)                          # wrong fps
    write_video(sub / f"{b}.mp4", split[b].target()[:, :64, :96], 15)             # wrong size
    (sub / f"{c}.mp4").write_bytes(b"")
    os.truncate(sub / f"{c}.mp4", 1 << 31)                                        # absurd size (sparse): unread
    shutil.copy(good / f"{a}.mp4", sub / "train_s7_999999.mp4")                   # not a clip id
    (sub / "notes.txt").write_text("hi")                                          # extra file
    (sub / "extra").mkdir()                                                       # extra folder
    report = validate_submission(sub, split)
    text = [str(p) for p in report.problems]
    assert any(t.startswith(f"{a}.mp4: 10.0 fps, expected 15") for t in text), text
    assert any(t.startswith(f"{b}.mp4: frame size 96x64, expected 160x96") for t in text), text
    assert any(t.startswith(f"{c}.mp4: 2147483648 bytes") and "refused unread" in t for t in text), text
    assert any(t.startswith("train_s7_999999.mp4: 'train_s7_999999' is not a clip id") for t in text), text
    assert any(t.startswith("notes.txt: extra file") for t in text), text
    assert any(t.startswith("extra/: extra folder") for t in text), text
    assert len(text) == 6 and report.decoded == []

    # submission.yaml problems are fatal (even with partial=true): wrong split, wrong fps, missing fields
    info = read_submission_info(sub)
    write_submission_info(sub, SubmissionInfo(**{**info.to_dict(), "split_fingerprint": "0" * 64, "fps": 30}))
    with pytest.raises(SubmissionError) as err:
        score_submission(ScoreConfig(sub, small_split, tmp_path / "r.sqlite", metrics=["psnr"], partial=True))
    assert "split_fingerprint '000" in str(err.value) and "fps 30, the split's videos are 15 fps" in str(err.value)
    (sub / "submission.yaml").write_text("model: x\n")
    with pytest.raises(SubmissionError, match="missing field `split_fingerprint`"):
        score_submission(ScoreConfig(sub, small_split, tmp_path / "r.sqlite", metrics=["psnr"], partial=True))


def test_zip_with_parent_member_is_refused_without_writing_outside(small_split, good, tmp_path):
    box = tmp_path / "box"
    box.mkdir()
    bad = box / "sub.zip"
    with zipfile.ZipFile(bad, "w") as z:
        for f in sorted(good.iterdir()):
            z.write(f, f.name)
        z.writestr("../escaped.txt", "outside")
        z.writestr("/abs.txt", "outside")
    before = sorted(p.name for p in tmp_path.rglob("*"))
    with pytest.raises(SubmissionError) as err:
        score_submission(ScoreConfig(bad, small_split, tmp_path / "r.sqlite", metrics=["psnr"]))
    msg = str(err.value)
    assert "'../escaped.txt': path with '..'" in msg and "'/abs.txt': absolute path" in msg
    assert "nothing was unpacked" in msg
    assert not (tmp_path / "escaped.txt").exists() and not Path("/abs.txt").exists()
    assert sorted(p.name for p in tmp_path.rglob("*")) == before

    tar = box / "sub.tar"
    with tarfile.open(tar, "w") as t:
        t.add(good / "submission.yaml", "submission.yaml")
        info = tarfile.TarInfo("evil.mp4")
        info.type, info.linkname = tarfile.SYMTYPE, "/etc/passwd"
        t.addfile(info)
    with pytest.raises(SubmissionError, match="'evil.mp4': link to '/etc/passwd'"):
        with open_submission(tar):
            pass


def test_archives_of_a_folder_are_the_same_submission(small_split, good, tmp_path):
    z = tmp_path / "sub.zip"
    with zipfile.ZipFile(z, "w") as zf:                      # `zip -r sub.zip sub/`: one top-level folder
        for f in sorted(good.iterdir()):
            zf.write(f, f"sub/{f.name}")
    t = tmp_path / "sub.tar.gz"
    with tarfile.open(t, "w:gz") as tf:
        tf.add(good, "sub")
    work = tmp_path / "work"
    work.mkdir()
    with open_submission(z, workdir=work) as root:
        assert (root / "submission.yaml").is_file() and root.parent.parent == work
    assert list(work.iterdir()) == []                     # the unpacked copy is removed afterwards
    ids = [score_submission(ScoreConfig(s, small_split, tmp_path / f"r{i}.sqlite", metrics=["psnr"])).submission_id
           for i, s in enumerate((good, z, t))]
    assert len(set(ids)) == 1
    assert score_rows(tmp_path / "r0.sqlite") == score_rows(tmp_path / "r1.sqlite") == score_rows(tmp_path / "r2.sqlite")


def test_includes_context_scores_the_target_part(small_split, tmp_path):
    only = make_submission(small_split, tmp_path / "t", gt_copy, "gt")
    both = make_submission(small_split, tmp_path / "ct", gt_with_context, "gt", includes_context=True)
    a = score_submission(ScoreConfig(only, small_split, tmp_path / "r.sqlite", metrics=["psnr"]))
    b = score_submission(ScoreConfig(both, small_split, tmp_path / "r.sqlite", metrics=["psnr"]))
    assert a.submission_id != b.submission_id
    assert a.aggregate["psnr"] > 35 and b.aggregate["psnr"] > 35
    # A target-only video declared as context + target has the wrong frame count, and vice versa.
    info = read_submission_info(only)
    write_submission_info(only, SubmissionInfo(**{**info.to_dict(), "includes_context": True}))
    report = validate_submission(only, Split(small_split))
    assert len(report.problems) == 3 and all("expected 42 (context 21 + target 21" in str(p) for p in report.problems)
