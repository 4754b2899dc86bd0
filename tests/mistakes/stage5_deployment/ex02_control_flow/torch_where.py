"""Known mistake: torch.where picks between both branches' outputs instead of torch.cond.

Expect: has no torch.ops.higher_order.cond node
"""

from __future__ import annotations

import torch
from torch import nn


class GatedBlock(nn.Module):
    def __init__(self, dim: int) -> None:
        super().__init__()
        self.up = nn.Linear(dim, dim)
        self.down = nn.Linear(dim, dim)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.where(x.mean() > 0, self.up(x), self.down(x))
