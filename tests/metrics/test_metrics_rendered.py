"""DSC on a clip rendered by the embedded renderer (`hmworld render`), read straight from the split files,
with an injected background-subtraction detector (a COCO detector with random weights finds nothing)."""
import json

import numpy as np
import pytest

from hmworld.metrics import ClipCropEmbedder, DSCConfig, decode_video, dsc
from tests.metrics.testlib import ChangeDetector, recolour, vanish


@pytest.fixture(scope="session")
def rendered(small_split):
    """The first clip of the shared small split (160x96), read from its files."""
    import cv2

    clip_dir = sorted((small_split / "clips").iterdir())[0]
    video = decode_video(clip_dir / "video.mp4")
    instances = np.load(clip_dir / "instances.npz")["instances"]
    events = json.loads((clip_dir / "events.json").read_text())
    subjects = json.loads((clip_dir / "subjects.json").read_text())
    masks = instances > 0
    # Empty-scene plates: the subjects' (slightly grown) masks inpainted from their surroundings.
    grown = np.stack([cv2.dilate(m.astype(np.uint8), np.ones((5, 5), np.uint8)) > 0 for m in masks])
    plates = np.stack([cv2.inpaint(f, g.astype(np.uint8) * 255, 3, cv2.INPAINT_TELEA) for f, g in zip(video, grown)])
    return dict(video=video, masks=masks, grown=grown, plates=plates, events=events, subjects=subjects)


def test_rendered_clip_dsc_ordering(rendered, tiny_models):
    r = rendered
    c = r["events"]["context_frames"]
    assert r["video"].shape[0] == c + r["events"]["target_frames"]
    reentering = [s for s in r["events"]["subjects"] if any(e["entry_frame"] >= c for e in s["events"])]
    assert reentering, "the renderer keeps only clips with an exit-entry event"
    cls = {s["instance_id"]: s["coco_class"] for s in r["subjects"]["subjects"]}[reentering[0]["instance_id"]]
    embedder = ClipCropEmbedder(tiny_models.get_clip(), device="cpu")
    gt = r["video"]

    def score(pred, mode="detect"):
        return dsc(pred[c:], gt[c:], gt[:c], r["events"], r["subjects"], embedder=embedder,
                   detector=ChangeDetector(r["plates"], cls=cls), config=DSCConfig(mode=mode))

    same = score(gt)
    recol = score(recolour(gt, r["masks"]))
    gone = score(vanish(gt, r["grown"], r["plates"]))
    assert same.terms > 0 and same.gt_terms == same.terms          # the detector finds the ground-truth subject
    assert same.dsc_gt > recol.dsc_gt > gone.dsc_gt == 0.0
    assert same.dsc_ctx > recol.dsc_ctx > gone.dsc_ctx == 0.0
    assert same.miss_rate == recol.miss_rate == 0.0 and gone.miss_rate == 1.0
    # Boxes-only variant: no detector; the vanished subject's crop is judged against the background beside its
    # box (with this random-weights CLIP only part of the frames are told apart; the identical prediction never
    # is a miss) and scores below identity.
    gone_boxes = score(vanish(gt, r["grown"], r["plates"]), "gt_boxes")
    same_boxes = score(gt, "gt_boxes")
    assert same_boxes.misses == 0 and gone_boxes.misses == gone_boxes.absent > 0
    assert gone_boxes.dsc_gt < same_boxes.dsc_gt
