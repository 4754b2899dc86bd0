"""Known mistake: normalize_per_channel lets float64 statistics promote a float32 batch to float64.

Expect: dtype torch.float64, expected torch.float32
"""

from __future__ import annotations

import torch


def normalize_per_channel(
    x: torch.Tensor, mean: torch.Tensor, std: torch.Tensor, eps: float = 1e-6
) -> torch.Tensor:
    shape = (1, -1, 1, 1)
    mean = mean.reshape(shape)
    std = std.reshape(shape)
    return (x - mean) / (std + eps)
