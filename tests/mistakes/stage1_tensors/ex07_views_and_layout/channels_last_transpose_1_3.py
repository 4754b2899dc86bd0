"""Known mistake: to_channels_last swaps dims 1 and 3, giving (N, W, H, C).

Expect: check permute/transpose
"""

from __future__ import annotations

import torch


def to_channels_last(x: torch.Tensor) -> torch.Tensor:
    return x.transpose(1, 3)
