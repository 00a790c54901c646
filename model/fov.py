"""Field-of-view overlap between latent frames, for the Context-as-Memory-style retrieval mode.

Estimate: cast a fixed grid of rays through frame i's image (``samples`` x ``samples`` pixels, centres of equal
cells) and put a point on each ray at each of the ``depths`` (metres, along the optical axis). The overlap of
frame i with frame j is the fraction of those points that frame j sees: in front of it (z > ``near``) and inside
its horizontal and vertical field of view. It is 1 for identical poses, falls as the cameras turn or move
apart, and needs only the poses (no depth maps), which is what Context-as-Memory's FOV retrieval uses too.
A memory frame's score is the mean overlap over the latent frames it summarises. The field of view is a
configuration value: the model does not see the intrinsics; the aspect ratio comes from the latent grid.
"""
from __future__ import annotations

import math

import torch


def poses_from_camera_vectors(camera: torch.Tensor) -> torch.Tensor:
    """``[..., 12]`` row-major 3x4 poses -> ``[..., 4, 4]`` homogeneous poses."""
    top = camera.reshape(*camera.shape[:-1], 3, 4)
    bottom = torch.zeros(*camera.shape[:-1], 1, 4, dtype=camera.dtype, device=camera.device)
    bottom[..., 0, 3] = 1.0
    return torch.cat([top, bottom], dim=-2)


def fov_overlap(
    c2w: torch.Tensor,
    *,
    hfov_deg: float = 90.0,
    aspect: float = 832 / 480,
    depths: tuple[float, ...] = (1.0, 2.0, 4.0, 8.0, 16.0),
    samples: int = 8,
    near: float = 0.05,
) -> torch.Tensor:
    """Overlap ``[B, F, F]`` (row i: fraction of frame i's sample points that frame j sees) from ``[B, F, 4, 4]``."""
    c2w = c2w.double()
    tan_x = math.tan(math.radians(hfov_deg) / 2.0)
    tan_y = tan_x / aspect
    u = (torch.arange(samples, dtype=torch.float64, device=c2w.device) + 0.5) / samples * 2.0 - 1.0
    gy, gx = torch.meshgrid(u * tan_y, u * tan_x, indexing="ij")
    d = torch.tensor(depths, dtype=torch.float64, device=c2w.device)
    # camera-frame points [P, 4] (OpenCV axes: x right, y down, z forward)
    pts = torch.stack([gx.reshape(-1)[:, None] * d, gy.reshape(-1)[:, None] * d, d.expand(gx.numel(), -1)], -1)
    pts = torch.cat([pts.reshape(-1, 3), torch.ones(pts.shape[0] * pts.shape[1], 1, dtype=torch.float64,
                                                    device=c2w.device)], dim=-1)
    # points of frame i expressed in frame j: inv(c2w_j) @ c2w_i @ p
    rel = torch.linalg.inv(c2w)[:, None, :, :, :] @ c2w[:, :, None, :, :]  # [B, i, j, 4, 4]
    p = torch.einsum("bijkl,pl->bijpk", rel, pts)
    z = p[..., 2]
    seen = (z > near) & (p[..., 0].abs() <= tan_x * z) & (p[..., 1].abs() <= tan_y * z)
    return seen.double().mean(-1).float()


def fov_memory_affinity(
    camera: torch.Tensor, num_mem_frames: int, mem_stride: int, aspect: float, **kwargs
) -> torch.Tensor:
    """Affinity ``[B, F, Fm]`` of each latent frame to each memory frame from camera vectors ``[B, F, 12]``."""
    b, nf, _ = camera.shape
    overlap = fov_overlap(poses_from_camera_vectors(camera), aspect=aspect, **kwargs)  # [B, F, F]
    j = torch.arange(num_mem_frames, device=camera.device)
    start = j * mem_stride
    end = torch.clamp(start + mem_stride, max=nf)
    frames = torch.arange(nf, device=camera.device)
    member = ((frames[None, :] >= start[:, None]) & (frames[None, :] < end[:, None])).float()  # [Fm, F]
    return overlap @ (member / member.sum(-1, keepdim=True).clamp(min=1)).T
