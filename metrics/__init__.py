"""hmworld.metrics: the leaderboard's metrics (PSNR, SSIM, LPIPS, VBench consistency, DSC).

Every metric is a function over decoded uint8 RGB arrays [T, H, W, 3]; `score_clip` computes a chosen set
for one clip and returns the values with the conventions they follow and CONVENTION_VERSION.
Heavy libraries (torch, lpips, open_clip, timm, ultralytics) load only when a metric needs them.
"""
from .conventions import CONVENTION_VERSION, CONVENTIONS, PSNR_CAP_DB, conventions_digest
from hmworld.devices import select_device

from .frames import MetricInputError, decode_video
from .pixel import FrameMetric, PSNRResult, psnr, ssim
from .perceptual import lpips
from .consistency import ConsistencyResult, background_consistency, subject_consistency
from .detection import ClipCropEmbedder, CropEmbedder, Detection, Detector, YoloDetector
from .dsc import MODES as DSC_MODES, DSCConfig, DSCResult, SubjectDSC, dsc
from .models import MetricModels, default_models, load_clip, load_dino, load_lpips, load_yolo
from .weights import WeightsNotFoundError, WeightStatus, format_report, report, resolve
from .scorer import ALL_METRICS, ClipScore, ClipVideos, aggregate, load_clip_videos, score_clip, score_clip_files

__all__ = [
    "CONVENTION_VERSION", "CONVENTIONS", "PSNR_CAP_DB", "conventions_digest",
    "MetricInputError", "decode_video", "select_device",
    "FrameMetric", "PSNRResult", "psnr", "ssim", "lpips",
    "ConsistencyResult", "subject_consistency", "background_consistency",
    "Detection", "Detector", "CropEmbedder", "YoloDetector", "ClipCropEmbedder",
    "DSC_MODES", "DSCConfig", "DSCResult", "SubjectDSC", "dsc",
    "MetricModels", "default_models", "load_lpips", "load_dino", "load_clip", "load_yolo",
    "WeightsNotFoundError", "WeightStatus", "report", "format_report", "resolve",
    "ALL_METRICS", "ClipScore", "ClipVideos", "score_clip", "score_clip_files", "load_clip_videos", "aggregate",
]
