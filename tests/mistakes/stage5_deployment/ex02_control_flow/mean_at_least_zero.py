"""Known mistake: the predicate is x.mean() >= 0, so a mean of exactly 0 takes `up`.

Expect: the test is strict
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
        return torch.cond(x.mean() >= 0, self.up, self.down, (x,))
