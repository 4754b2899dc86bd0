"""Known mistake: true_fn and false_fn are swapped in torch.cond.

Expect: runs true_fn when pred is True
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
        return torch.cond(x.mean() > 0, self.down, self.up, (x,))
