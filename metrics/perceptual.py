"""LPIPS (AlexNet v0.1) over uint8 videos."""
from __future__ import annotations

from typing import Optional

import numpy as np

from .frames import check_pair, to_float_tensor
from .pixel import FrameMetric


def lpips(pred: np.ndarray, target: np.ndarray, model=None, device: Optional[str] = None,
          batch_frames: int = 8) -> FrameMetric:
    """Per-frame LPIPS at full resolution with inputs mapped to [-1, 1], averaged over frames.

    `model` is an lpips.LPIPS (see models.load_lpips); None loads the default through weights resolution.
    """
    import torch

    check_pair(pred, target)
    if model is None:
        from .models import default_models

        model = default_models(device=device).get_lpips()
    dev = next(model.parameters()).device
    out = []
    with torch.inference_mode():
        for i in range(0, pred.shape[0], batch_frames):
            # lpips expects [-1, 1]; feeding [0, 1] (a common bug) shifts every score.
            x = to_float_tensor(pred[i:i + batch_frames], dev).mul_(2).sub_(1)
            y = to_float_tensor(target[i:i + batch_frames], dev).mul_(2).sub_(1)
            out.append(model(x, y).reshape(-1).double().cpu().numpy())
    per_frame = np.concatenate(out)
    return FrameMetric(float(per_frame.mean()), per_frame)
