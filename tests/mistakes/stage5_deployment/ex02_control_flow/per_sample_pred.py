"""Known mistake: the predicate is one mean per sample, x.mean(dim=-1) > 0, not a single bool.

Expect: torch.cond needs a single bool
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
        return torch.cond(x.mean(dim=-1) > 0, self.up, self.down, (x,))
