"""Known mistake: sample_noise forgets to move the noise to the device.

Expect: on cpu, expected meta
"""

from __future__ import annotations

import torch


def sample_noise(shape: tuple[int, ...], seed: int, device: str | torch.device) -> torch.Tensor:
    noise = torch.randn(tuple(shape), generator=make_generator(seed), dtype=torch.float32)
    return noise
