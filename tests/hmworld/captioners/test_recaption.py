"""`hmworld caption` on a rendered split: in place, resumable, manifest and captions.txt always consistent with
the clips' clip.json files; the split's fingerprint untouched. Captioners here work at the Captioner interface
(a counting one, one that fails on purpose); the transformers captioners are tested in test_vlm_captioners.py."""
import signal
import subprocess
import sys
import textwrap

import pandas as pd
import pytest

import hmworld.split.writer as writer_module
from hmworld.captioners import Captioner, build_captioner
from hmworld.captioners.recaption import recaption_split, split_records
from hmworld.errors import SplitError
from hmworld.split import Split
from hmworld.split.format import fingerprint


CAT = None


@pytest.fixture(autouse=True)
def _shared_catalog(catalog):
    """Loading the catalog parses every YAML file (seconds on this CPU): load it once per session."""
    global CAT
    CAT = catalog


def run(split, captioner, **kwargs):
    return recaption_split(split, captioner, catalog=CAT, **kwargs)


class Counting(Captioner):
    """Captions from the request, counts calls, and can fail after `fail_after` clips (a crash mid-run)."""

    def __init__(self, name="fake-vlm", fail_after=None, check=None):
        self.name, self.fail_after, self.check = name, fail_after, check
        self.seen: list[str] = []

    def caption(self, requests):
        out = []
        for r in requests:
            if self.fail_after is not None and len(self.seen) >= self.fail_after:
                raise RuntimeError(f"captioner died at clip {r.clip_id}")
            if self.check:
                self.check()
            self.seen.append(r.clip_id)
            out.append(f"{self.name} caption of {r.clip_id}: {r.subjects[0].description}\tin {r.scene}")
        return out


def clip_json_state(root):
    return {r.clip_id: (r.caption, r.caption_source) for _, r in split_records(root)}


def assert_consistent(root):
    """manifest.parquet and captions.txt hold exactly what the clip.json files hold."""
    state = clip_json_state(root)
    manifest = pd.read_parquet(root / "manifest.parquet")
    assert dict(zip(manifest.clip_id, zip(manifest.caption, manifest.caption_source))) == state
    lines = (root / "captions.txt").read_text().splitlines()
    assert len(lines) == len(state)
    for line, row in zip(lines, manifest.itertuples()):
        path, text = line.split("\t")
        assert path == row.video_path and text == " ".join(row.caption.replace("\t", " ").split())


def test_recaption_updates_clip_json_manifest_and_captions_and_keeps_the_fingerprint(split):
    before = Split(split)
    info_bytes = (split / "split.json").read_bytes()
    fp = fingerprint([r for _, r in split_records(split)])
    assert set(before.manifest.caption_source) == {"template"}
    report = run(split, Counting(), batch_size=2)
    assert (report.total, report.captioned, report.skipped) == (3, 3, 0)
    after = Split(split)
    assert set(after.manifest.caption_source) == {"fake-vlm"}
    assert all(c.startswith("fake-vlm caption of ") for c in after.manifest.caption)
    assert_consistent(split)
    assert "\t" not in "".join(line.split("\t", 1)[1] for line in (split / "captions.txt").read_text().splitlines())
    assert fingerprint([r for _, r in split_records(split)]) == fp == after.fingerprint
    assert (split / "split.json").read_bytes() == info_bytes
    # Every other manifest column is untouched.
    cols = [c for c in before.manifest.columns if c not in ("caption", "caption_source")]
    pd.testing.assert_frame_equal(before.manifest[cols], after.manifest[cols])


def test_a_run_that_dies_midway_resumes_with_only_the_rest(split):
    with pytest.raises(RuntimeError, match="died at clip"):
        run(split, Counting(fail_after=2), batch_size=1)
    state = clip_json_state(split)
    assert sorted(src for _, src in state.values()) == ["fake-vlm", "fake-vlm", "template"]
    assert_consistent(split)  # the committed batches are already in the manifest
    again = Counting()
    report = run(split, again, batch_size=1)
    assert (report.captioned, report.skipped) == (1, 2)
    assert again.seen == [cid for cid, (_, src) in state.items() if src == "template"]
    assert_consistent(split)
    noop = Counting()
    report = run(split, noop)
    assert (report.captioned, report.skipped, noop.seen) == (0, 3, [])
    forced = Counting()
    assert run(split, forced, force=True, limit=2).captioned == 2 and len(forced.seen) == 2


def test_manifest_and_captions_match_clip_json_between_every_batch(split):
    checks = []

    def check():
        assert_consistent(split)
        checks.append(1)

    run(split, Counting(check=check), batch_size=1)
    assert len(checks) == 3


def test_a_kill_between_the_two_file_replacements_leaves_whole_files_and_the_next_run_repairs(split, monkeypatch):
    old_captions = (split / "captions.txt").read_text()
    real = writer_module.atomic_write_text

    def dies_before_captions(path, text):
        if "second caption" in text:  # the rebuild after the batch, not the repair rebuild at the start
            raise KeyboardInterrupt("killed between manifest.parquet and captions.txt")
        real(path, text)

    run(split, Counting(name="first"), batch_size=3)  # both files at state "first"
    first_captions = (split / "captions.txt").read_text()
    assert first_captions != old_captions
    monkeypatch.setattr(writer_module, "atomic_write_text", dies_before_captions)
    with pytest.raises(KeyboardInterrupt):
        run(split, Counting(name="second"), batch_size=3)
    # manifest.parquet was replaced whole (state "second"), captions.txt is still the whole previous file.
    assert set(pd.read_parquet(split / "manifest.parquet").caption_source) == {"second"}
    assert (split / "captions.txt").read_text() == first_captions
    assert not list(split.glob(".*.tmp"))  # no half-written temporaries left beside them
    monkeypatch.setattr(writer_module, "atomic_write_text", real)
    report = run(split, Counting(name="second"))
    assert report.captioned == 0  # clip.json already says "second": nothing to redo ...
    assert_consistent(split)  # ... but the files are consistent again


KILLER = textwrap.dedent("""
    import os, signal, sys
    from hmworld.captioners import Captioner
    from hmworld.captioners.recaption import recaption_split

    class DiesHard(Captioner):
        name = "killed-vlm"
        calls = 0

        def caption(self, requests):
            DiesHard.calls += 1
            if DiesHard.calls == 3:
                os.kill(os.getpid(), signal.SIGKILL)  # no cleanup, no finally: as a machine losing power
            return [f"caption {r.clip_id}" for r in requests]

    recaption_split(sys.argv[1], DiesHard(), batch_size=1)
""")


def test_sigkill_midway_leaves_a_consistent_split_and_rerun_finishes(split):
    proc = subprocess.run([sys.executable, "-c", KILLER, str(split)], capture_output=True, text=True, timeout=120)
    assert proc.returncode == -signal.SIGKILL, proc.stderr
    state = clip_json_state(split)
    assert sorted(src for _, src in state.values()) == ["killed-vlm", "killed-vlm", "template"]
    assert_consistent(split)
    Split(split)  # still readable
    rest = Counting(name="killed-vlm")
    assert run(split, rest).captioned == 1 and len(rest.seen) == 1
    assert_consistent(split)


def test_not_a_split_and_a_captioner_returning_too_few_captions_are_named(split, tmp_path):
    with pytest.raises(SplitError, match="no split.json"):
        recaption_split(tmp_path, Counting())

    class Short(Counting):
        def caption(self, requests):
            return super().caption(requests)[:-1]

    with pytest.raises(SplitError, match="returned 1 captions for 2 clips"):
        run(split, Short(), batch_size=2)
    assert set(src for _, src in clip_json_state(split).values()) == {"template"}  # nothing half-applied


def test_template_captioner_rebuilds_the_same_captions(split):
    expected = (split / "captions.txt").read_text()
    report = run(split, build_captioner({"name": "template"}), force=True)
    assert report.captioned == 3
    assert (split / "captions.txt").read_text() == expected  # same requests as at render time -> same text
