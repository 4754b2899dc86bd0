"""Known mistake: channel_stats uses the unbiased (n - 1) standard deviation.

Expect: unbiased
"""

from __future__ import annotations

import torch


def channel_stats(x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    dims = (0, 2, 3)
    return x.mean(dim=dims), x.std(dim=dims)
