"""The metric conventions, written down, and their version.

Small convention changes move published numbers a lot (pooled vs per-frame PSNR differs by ~6 dB on
the same videos), so every scored result carries CONVENTION_VERSION and the text below. Any change to
a number-affecting choice must bump CONVENTION_VERSION; tests/metrics pins a hash of CONVENTIONS to
the version so that an edit without a bump fails.
"""
from __future__ import annotations

import hashlib
import json

# 2: explicit colour convention when decoding; DSC crops padded to a square (no centre crop), a shifted
#    subject matched by the nearby fallback, presence judged in gt_boxes mode; DINO's own position-embedding
#    resize for non-square frames (VBench parity).
# 3: the masked re-entry metrics (subject / box / background / re-entry-frame PSNR and SSIM from the ground
#    truth's instance masks, metrics/masked.py); the other metrics' numbers are unchanged from 2.
CONVENTION_VERSION = "3"

# Identical frames have infinite PSNR. The cap keeps averages finite; it is above what any non-identical
# pair of 8-bit frames up to 832x480 reaches except a handful of off-by-one pixels, so it ranks correctly.
PSNR_CAP_DB = 100.0

SSIM_WINDOW = 11
SSIM_SIGMA = 1.5
SSIM_K1 = 0.01
SSIM_K2 = 0.03

VBENCH_DINO_SIZE = 224
VBENCH_CLIP_SIZE = 224
DINO_PATCH = 16

DSC_MATCH_IOU = 0.3
DSC_MAX_CONTEXT_FRAMES = 16
DSC_DETECTOR_CONF = 0.25
DSC_DETECTOR_IMGSZ = 640
DSC_YOLO_WEIGHTS = "yolo11x.pt"
DSC_SHIFT_RADIUS = 1.0                 # fallback match: detection centre within this many ground-truth box diagonals
DSC_PAD_FILL = (123, 117, 104)         # CLIP's mean colour x 255: padding normalises to ~0

CONVENTIONS: dict[str, str] = {
    "input": "decoded uint8 RGB [T, H, W, 3]; pred and target same frame count and size; float = uint8 / 255",
    "decode": ("PyAV, every frame; YUV -> RGB with the matrix the stream declares (BT.709; BT.601 for "
               "bt470bg/smpte170m; SMPTE 240M; BT.2020), BT.601 when it declares none or another; the declared "
               "range (full when tagged full, else limited); full-range 8-bit RGB out; bilinear chroma "
               "upsampling; the same for prediction and ground truth; both at the same frame rate"),
    "scope": ("every metric scores the target half only (a submission's context frames are dropped); PSNR, SSIM, "
              "LPIPS and DSC compare the prediction with the ground truth, the consistency metrics read the "
              "prediction alone; DSC_ctx's reference crops come from the ground-truth context half"),
    "psnr": (f"per frame 10*log10(1/MSE) over H, W and RGB, data range 1, MSE exact from uint8; "
             f"capped at {PSNR_CAP_DB:g} dB (identical frames give the cap); mean over frames per video, "
             f"then mean over videos"),
    "ssim": (f"Wang et al., Gaussian window {SSIM_WINDOW} taps sigma {SSIM_SIGMA}, K1 {SSIM_K1} K2 {SSIM_K2}, "
             f"population covariance, data range 1, per RGB channel over the valid region (no padding), "
             f"mean of channels; per frame, mean over frames per video, then over videos "
             f"(= skimage structural_similarity gaussian_weights=True sigma=1.5 "
             f"use_sample_covariance=False data_range=1 channel_axis=-1)"),
    "lpips": ("lpips package AlexNet v0.1 (torchvision ImageNet AlexNet trunk + calibrated linear heads), "
              "inputs mapped to [-1, 1], full resolution, spatial average; per frame, mean over frames per "
              "video, then over videos"),
    "subject_consistency": (
        f"VBench: DINO ViT-B/16 CLS feature as the DINO repository's VisionTransformer computes it (timm "
        f"vit_base_patch16_224.dino layers with DINO's position-embedding resize: bicubic with scale factors "
        f"((rows+0.1)/14, (cols+0.1)/14), none for square frames); frames as float 0..255 "
        f"resized short side to {VBENCH_DINO_SIZE} (bilinear, antialias off, long side int(224*long/short)), "
        f"bottom/right remainder dropped to multiples of {DINO_PATCH} by the stride-16 patch embedding, "
        f"/255, ImageNet mean/std; s_i = (max(0,cos(f_(i-1),f_i)) + max(0,cos(f_0,f_i)))/2 for i >= 1; "
        f"video = mean of s_i; split = sum of all s_i / number of terms (frame-weighted)"),
    "background_consistency": (
        f"VBench: open_clip ViT-B-32-quickgelu OpenAI weights, image embedding; frames as float 0..255 "
        f"resized short side to {VBENCH_CLIP_SIZE} (bicubic, antialias off), centre crop {VBENCH_CLIP_SIZE}, "
        f"/255, CLIP mean/std; same formula and frame-weighted split figure as subject_consistency"),
    "dsc": (
        f"per subject with an exit-entry event: frames from its first re-entry (entry_frame) to the clip end "
        f"where the ground truth shows it (visible_intervals, else visible_box, else every frame); "
        f"YOLO11 ({DSC_YOLO_WEIGHTS} unless another is chosen; details dsc_detector names the one used; conf "
        f"{DSC_DETECTOR_CONF}, imgsz {DSC_DETECTOR_IMGSZ}) detections of the "
        f"subject's COCO class matched to the ground-truth visible_box (else box) by IoU >= {DSC_MATCH_IOU}, "
        f"highest IoU wins; without one, the detection of the class whose centre is nearest the ground-truth "
        f"box's centre, within {DSC_SHIFT_RADIUS:g} box diagonal(s) (a shifted subject is still itself; "
        f"counted as displaced); crops cut at integer-rounded-out box, padded to a square with "
        f"RGB {DSC_PAD_FILL} (centred; nothing cut off), embedded with open_clip ViT-B-32-quickgelu "
        f"OpenAI weights and open_clip's eval preprocessing (short side 224 bicubic, centre crop), "
        f"L2-normalised; DSC_GT = max(0, cos(pred crop, gt crop of the same frame)), frames whose ground-truth "
        f"crop is missing are left out; DSC_ctx = max(0, cos(pred crop, mean of the subject's context crop "
        f"embeddings)), context crops from up to {DSC_MAX_CONTEXT_FRAMES} evenly spaced visible context "
        f"frames; a frame whose prediction has no matching detection scores 0 in both and counts as a miss; "
        f"clip = mean over its (subject, frame) terms; split = mean over clips with terms; miss rate = misses / "
        f"terms. Variants: gt_target_boxes (ground-truth boxes on the ground-truth and context side), "
        f"gt_boxes (ground-truth boxes on both sides, no detector; presence: the prediction crop is a miss when "
        f"it is more similar to a same-size ground-truth background crop beside the box (left/right, else "
        f"above/below, the side with more room) than to the ground-truth crop; frames without room for that "
        f"reference count as present and are counted as unjudged), detect_top (no boxes: each side takes its "
        f"top-confidence detection of the class, frames from entry_frame to the end)"),
    "masked": (
        f"masked re-entry metrics, from the ground truth's instance masks (instances.npz; a clip without them is "
        f"not applicable: values null); per exit-entry event of events.json, its re-entry frames are the clip "
        f"frames from entry_frame to the clip end where visible_intervals show the subject (null intervals: where "
        f"its mask has a pixel); hidden gap = entry_frame - exit_frame frames. Regions per frame: subject = pixels "
        f"with its instance id; box = its visible_box (else its mask's bounding box) rounded outwards to whole "
        f"pixels and clipped; background = instance id 0; reentry = the whole frame. PSNR in a region: "
        f"10*log10(1/MSE) over the region's pixels x RGB, data range 1, exact from uint8, capped at "
        f"{PSNR_CAP_DB:g} dB, frames with an empty region skipped. SSIM in a region: the whole-frame SSIM's "
        f"per-pixel map (window {SSIM_WINDOW} sigma {SSIM_SIGMA}, K1 {SSIM_K1} K2 {SSIM_K2}, population "
        f"covariance, RGB averaged) at every pixel, the frame extended by half-sample symmetric reflection, "
        f"averaged over the region's pixels. Event value = mean over its frames; clip subject_*/box_* = mean over "
        f"its events; clip background_*/reentry_* = mean over the union of its events' re-entry frames; split = "
        f"mean over clips with a value"),
    "aggregation": ("PSNR/SSIM/LPIPS/DSC: mean over frames (terms) per video, then unweighted mean over videos; "
                    "subject/background consistency: frame-weighted over the split as vbench"),
}


def conventions_digest() -> str:
    """A short hash of the convention text; the tests tie it to CONVENTION_VERSION."""
    blob = json.dumps(CONVENTIONS, sort_keys=True).encode()
    return hashlib.sha256(blob).hexdigest()[:16]
