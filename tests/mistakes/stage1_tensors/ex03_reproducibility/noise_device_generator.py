"""Known mistake: sample_noise draws on the device itself with a generator of that device.

Expect: draw the noise on the CPU
"""

from __future__ import annotations

import torch


def sample_noise(shape: tuple[int, ...], seed: int, device: str | torch.device) -> torch.Tensor:
    g = torch.Generator(device=device).manual_seed(seed)
    return torch.randn(tuple(shape), generator=g, device=device)
