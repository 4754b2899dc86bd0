"""Known mistake: sample_noise ignores the seed and draws from the global RNG.

Expect: the same on every device
Expect: wrong values
"""

from __future__ import annotations

import torch


def sample_noise(shape: tuple[int, ...], seed: int, device: str | torch.device) -> torch.Tensor:
    noise = torch.randn(tuple(shape), dtype=torch.float32)
    return noise.to(device)
