"""Known mistake: normalize_per_channel's eps defaults to 1e-5 (BatchNorm's), not 1e-6.

Every call that passes eps is right, and so is every channel whose std is far above 1e-5;
only callers that rely on the documented default get different numbers.

Expect: must use the default eps=1e-6
"""

from __future__ import annotations

import torch


def normalize_per_channel(
    x: torch.Tensor, mean: torch.Tensor, std: torch.Tensor, eps: float = 1e-5
) -> torch.Tensor:
    shape = (1, -1, 1, 1)
    mean = mean.to(x.dtype).reshape(shape)
    std = std.to(x.dtype).reshape(shape)
    return (x - mean) / (std + eps)
