"""Known mistake: normalize_per_channel divides by sqrt(std**2 + eps) instead of std + eps.

Expect: eps=0.25
"""

from __future__ import annotations

import torch


def normalize_per_channel(
    x: torch.Tensor, mean: torch.Tensor, std: torch.Tensor, eps: float = 1e-6
) -> torch.Tensor:
    shape = (1, -1, 1, 1)
    mean = mean.to(x.dtype).reshape(shape)
    std = std.to(x.dtype).reshape(shape)
    return (x - mean) / torch.sqrt(std**2 + eps)
