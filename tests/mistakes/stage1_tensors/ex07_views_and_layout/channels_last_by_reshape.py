"""Known mistake: to_channels_last reshapes to (N, H, W, C) instead of permuting.

Expect: x.reshape(N, H, W, C)
Expect: needs permute
"""

from __future__ import annotations

import torch


def to_channels_last(x: torch.Tensor) -> torch.Tensor:
    n, c, h, w = x.shape
    return x.reshape(n, h, w, c)
