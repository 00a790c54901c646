"""The split's fingerprint covers each clip's instance masks (instances.npz, read by the masked metrics and DSC)
as it covers the video: masks edited after the split was written are refused before anything is scored, and so
is a manifest edited to match them. Splits written before the hash was recorded keep their fingerprint."""
import hashlib
import json
import shutil

import numpy as np
import pandas as pd
import pytest

from hmworld.benchmark import BenchmarkError, score_submission
from hmworld.benchmark.scoring import ScoreConfig
from hmworld.split import Split
from hmworld.split.format import FORMAT_VERSION, UNFINGERPRINTED, ClipRecord, fingerprint
from tests.benchmark.testlib import gt_copy, make_submission


@pytest.fixture(scope="module")
def good(small_split, tmp_path_factory):
    return make_submission(small_split, tmp_path_factory.mktemp("masks-good") / "sub", gt_copy, "gt-copy")


def _edit_masks(path):
    with np.load(path) as z:
        ids = z["instances"].copy()
    ids[0, 0, 0] = 255 - ids[0, 0, 0]
    np.savez_compressed(path, instances=ids)


def test_the_manifest_records_each_clips_mask_hash(small_split):
    sp = Split(small_split)
    for c in sp.clip_ids:
        path = small_split / sp[c].row["instances_path"]
        assert sp[c].row["instances_sha256"] == hashlib.sha256(path.read_bytes()).hexdigest()


def test_masks_edited_after_the_split_was_written_are_refused(small_split, good, tmp_path):
    split = shutil.copytree(small_split, tmp_path / "split")
    store = tmp_path / "r.sqlite"
    score_submission(ScoreConfig(good, split, store, metrics=["psnr"]))        # the untouched copy scores
    victim = Split(split).clip_ids[1]
    masks = split / Split(split)[victim].row["instances_path"]
    _edit_masks(masks)
    before = store.read_bytes()
    with pytest.raises(BenchmarkError, match=rf"clip {victim}: instance masks .*instances.npz have sha256 .* "
                                             r"\(edited after the split was written\)"):
        score_submission(ScoreConfig(good, split, store, metrics=["psnr"]))
    assert store.read_bytes() == before
    # ... and a manifest edited to match them breaks the fingerprint instead.
    m = pd.read_parquet(split / "manifest.parquet")
    m.loc[m["clip_id"] == victim, "instances_sha256"] = hashlib.sha256(masks.read_bytes()).hexdigest()
    m.to_parquet(split / "manifest.parquet")
    with pytest.raises(BenchmarkError, match="the manifest was edited after the split was written"):
        score_submission(ScoreConfig(good, split, tmp_path / "r2.sqlite", metrics=["psnr"]))
    assert not (tmp_path / "r2.sqlite").exists()


def test_deleted_masks_are_refused(small_split, good, tmp_path):
    split = shutil.copytree(small_split, tmp_path / "split")
    victim = Split(split).clip_ids[0]
    (split / Split(split)[victim].row["instances_path"]).unlink()
    with pytest.raises(BenchmarkError, match=rf"clip {victim}: instance masks .* are missing"):
        score_submission(ScoreConfig(good, split, tmp_path / "r.sqlite", metrics=["psnr"]))


def test_splits_without_the_mask_hash_keep_their_fingerprint():
    rec = ClipRecord(clip_id="train_s1_000000", scene="meadow", partition="train", subjects=["dog_corgi"],
                     trajectories=["straight"], camera_trajectory="pan_hold_back", seed=1, slot=0, attempt=0,
                     width=64, height=64, fps=16.0, context_frames=5, target_frames=5, events="[]", caption="x",
                     caption_source="template", video_sha256="0" * 64)
    # The rule before instances_sha256 existed, written out: the row without captions, sorted keys.
    old = hashlib.sha256(f"hmworld-split-v{FORMAT_VERSION}\n".encode())
    row = {k: v for k, v in rec.row().items() if k not in UNFINGERPRINTED and k != "instances_sha256"}
    old.update(json.dumps(row, sort_keys=True, separators=(",", ":")).encode() + b"\n")
    assert fingerprint([rec]) == old.hexdigest()
    rec.instances_sha256 = "1" * 64
    assert fingerprint([rec]) != old.hexdigest()
