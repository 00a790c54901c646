"""Memory tokenizer: a strided 3D convolution that compresses latent tokens into memory tokens."""
from __future__ import annotations

import math

import torch
import torch.nn as nn
import torch.nn.functional as F


class MemoryTokenizer(nn.Module):
    """Conv3d with kernel == stride over the (frames, height, width) token grid.

    The released HyDRA checkpoint uses kernel (2, 2, 2); the paper's best is (2, 4, 4). A grid the kernel does
    not divide is padded at the end of each axis (time end, bottom, right) by replicating the last token, so
    every token is covered and nothing is silently dropped as an unpadded strided conv would.
    The submodule is named ``conv`` so released weights ``tokenizer.conv.*`` map one to one.
    """

    def __init__(self, dim: int, kernel: tuple[int, int, int] = (2, 2, 2)):
        super().__init__()
        self.kernel = tuple(int(k) for k in kernel)
        if len(self.kernel) != 3 or min(self.kernel) < 1:
            raise ValueError(f"memory kernel must be three positive ints, got {kernel}")
        self.conv = nn.Conv3d(dim, dim, kernel_size=self.kernel, stride=self.kernel)

    @torch.no_grad()
    def reset_parameters(self, generator: torch.Generator | None = None) -> None:
        """PyTorch's default Conv3d init, drawn from ``generator`` when given (reproducible fresh tokenizers)."""
        w = self.conv.weight
        fan_in = w[0].numel()
        nn.init.kaiming_uniform_(w, a=math.sqrt(5), generator=generator)
        bound = 1.0 / math.sqrt(fan_in)
        nn.init.uniform_(self.conv.bias, -bound, bound, generator=generator)

    def output_grid(self, grid: tuple[int, int, int]) -> tuple[int, int, int]:
        return tuple(-(-int(s) // k) for s, k in zip(grid, self.kernel))

    def forward(self, x: torch.Tensor, grid: tuple[int, int, int]) -> tuple[torch.Tensor, tuple[int, int, int]]:
        """``x`` ``[B, F*H*W, C]`` -> memory tokens ``[B, Fm*Hm*Wm, C]`` and the memory grid."""
        b, n, c = x.shape
        nf, h, w = (int(s) for s in grid)
        x = x.view(b, nf, h, w, c).permute(0, 4, 1, 2, 3)
        pad = [(-s) % k for s, k in zip((nf, h, w), self.kernel)]
        if any(pad):
            x = F.pad(x, (0, pad[2], 0, pad[1], 0, pad[0]), mode="replicate")
        y = self.conv(x.to(self.conv.weight.dtype))
        mem_grid = tuple(int(s) for s in y.shape[2:])
        return y.flatten(2).transpose(1, 2), mem_grid
