"""Known mistake: channel_stats reduces over dim 1 (the channels) instead of dims (0, 2, 3).

Expect: reduce over dims (0, 2, 3)
"""

from __future__ import annotations

import torch


def channel_stats(x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    dims = 1
    return x.mean(dim=dims), x.std(dim=dims, correction=0)
