"""Known mistake: normalize_per_channel normalises x in place with sub_ and div_.

Expect: changed its input x in place
"""

from __future__ import annotations

import torch


def normalize_per_channel(
    x: torch.Tensor, mean: torch.Tensor, std: torch.Tensor, eps: float = 1e-6
) -> torch.Tensor:
    shape = (1, -1, 1, 1)
    mean = mean.to(x.dtype).reshape(shape)
    std = std.to(x.dtype).reshape(shape)
    return x.sub_(mean).div_(std + eps)
