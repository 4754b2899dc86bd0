"""Known mistake: sample_noise calls torch.manual_seed(seed) and draws from the global RNG.

Expect: changed the state of torch's global RNG
"""

from __future__ import annotations

import torch


def sample_noise(shape: tuple[int, ...], seed: int, device: str | torch.device) -> torch.Tensor:
    torch.manual_seed(seed)
    noise = torch.randn(tuple(shape), dtype=torch.float32)
    return noise.to(device)
