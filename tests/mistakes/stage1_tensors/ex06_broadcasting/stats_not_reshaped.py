"""Known mistake: normalize_per_channel broadcasts the (C,) statistics as they are, which lines them up with W.

Expect: must match the size
"""

from __future__ import annotations

import torch


def normalize_per_channel(
    x: torch.Tensor, mean: torch.Tensor, std: torch.Tensor, eps: float = 1e-6
) -> torch.Tensor:
    shape = (-1,)
    mean = mean.to(x.dtype).reshape(shape)
    std = std.to(x.dtype).reshape(shape)
    return (x - mean) / (std + eps)
