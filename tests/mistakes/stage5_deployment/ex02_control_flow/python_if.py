"""Known mistake: GatedBlock chooses its branch with a Python `if`, which torch.export cannot follow.

Expect: torch.cond(x.mean() > 0
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
        if x.mean() > 0:
            return self.up(x)
        return self.down(x)
