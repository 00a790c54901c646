"""Flow matching as Wan / the released HyDRA recipe use it: the shifted schedule, the timestep weighting, the
training pair, and the Euler sampler.

Convention: ``x_sigma = (1 - sigma) * x0 + sigma * noise`` with sigma in (0, 1]; the network predicts the velocity
``v = noise - x0`` (the flow-matching target, d x_sigma / d sigma); the timestep fed to the network is
``1000 * sigma``. Wan's shift ``s`` bends a uniform grid towards high noise: ``sigma' = s*sigma / (1 + (s-1)*sigma)``.
"""
from __future__ import annotations

from typing import Callable

import torch

from hmworld.progress import NO_COUNT


def shift_sigmas(sigmas: torch.Tensor, shift: float) -> torch.Tensor:
    return shift * sigmas / (1.0 + (shift - 1.0) * sigmas)


class FlowMatchSchedule:
    """The training grid: ``num_train_timesteps`` shifted sigmas from 1 down to ``1/num_train_timesteps``.

    ``weighting='gaussian'`` weights timestep t by ``exp(-2 * ((t - T/2) / T)^2)`` minus its minimum over the
    grid, normalised to mean 1 over the grid (a bump centred at t = 500 of 1000, zero at the grid's extreme), the
    released recipe's choice; ``'none'`` weights every timestep 1.
    """

    def __init__(self, num_train_timesteps: int = 1000, shift: float = 5.0, weighting: str = "gaussian"):
        if weighting not in ("gaussian", "none"):
            raise ValueError(f"schedule.weighting must be gaussian or none, got {weighting!r}")
        self.num = int(num_train_timesteps)
        self.shift = float(shift)
        self.weighting = weighting
        base = torch.linspace(1.0, 1.0 / self.num, self.num, dtype=torch.float64)
        self.sigmas = shift_sigmas(base, self.shift).float()
        self.timesteps = self.sigmas * 1000.0
        if weighting == "gaussian":
            t = self.timesteps.double()
            y = torch.exp(-2.0 * ((t - self.num / 2) / self.num) ** 2)
            y = y - y.min()
            self.weights = (y * (self.num / y.sum())).float()
        else:
            self.weights = torch.ones(self.num)

    def sample(self, batch: int, generator: torch.Generator) -> torch.Tensor:
        """Indices into the grid, uniform (per sample)."""
        return torch.randint(0, self.num, (batch,), generator=generator)

    def training_pair(self, x0: torch.Tensor, noise: torch.Tensor, idx: torch.Tensor):
        """(x_sigma, velocity target, timestep [B], weight [B]) for grid indices ``idx``."""
        sigma = self.sigmas[idx].to(x0.device, torch.float32).view(-1, *([1] * (x0.ndim - 1)))
        noisy = (1.0 - sigma) * x0 + sigma * noise
        return noisy, noise - x0, self.timesteps[idx].to(x0.device), self.weights[idx].to(x0.device)


def sampling_sigmas(steps: int, shift: float) -> torch.Tensor:
    """``steps + 1`` sigmas from 1 to 0 (uniform, then shifted)."""
    if steps < 1:
        raise ValueError(f"steps must be >= 1, got {steps}")
    return shift_sigmas(torch.linspace(1.0, 0.0, int(steps) + 1, dtype=torch.float64), float(shift)).float()


@torch.no_grad()
def euler_sample(velocity: Callable[[torch.Tensor, torch.Tensor], torch.Tensor], noise: torch.Tensor, *,
                 steps: int, shift: float, progress: Callable[[], None] = NO_COUNT.advance) -> torch.Tensor:
    """Integrate ``dx/dsigma = v(x, t)`` from sigma = 1 (``noise``) to 0 with Euler steps; returns x0.

    ``velocity(x, timestep)`` gets the current target latents and the timestep ``1000 * sigma`` ``[B]``.
    """
    sigmas = sampling_sigmas(steps, shift)
    x = noise.float()
    for i in range(int(steps)):
        t = torch.full((x.shape[0],), float(sigmas[i]) * 1000.0, device=x.device)
        v = velocity(x, t).float()
        x = x + (float(sigmas[i + 1]) - float(sigmas[i])) * v
        progress()
    return x


def guided(cond: torch.Tensor, uncond: torch.Tensor | None, scale: float) -> torch.Tensor:
    """Classifier-free guidance: ``uncond + scale * (cond - uncond)`` (scale 1 or no uncond: cond)."""
    if uncond is None or scale == 1.0:
        return cond
    return uncond + scale * (cond - uncond)
