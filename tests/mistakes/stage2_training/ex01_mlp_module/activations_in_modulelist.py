"""Known mistake: the activations are stored inside self.layers between the Linear layers, so the state_dict keys become layers.0, layers.2, ....

Expect: state_dict() keys
"""

from __future__ import annotations

from itertools import pairwise

import torch
from torch import nn


class MLP(nn.Module):
    def __init__(self, sizes: list[int], *, activation: str = "relu", dropout: float = 0.0) -> None:
        super().__init__()
        sizes = [int(s) for s in sizes]
        if len(sizes) < 2:
            raise ValueError(f"MLP needs at least two sizes (in and out), got {sizes}")
        if activation not in ACTIVATIONS:
            raise ValueError(
                f"unknown activation {activation!r}; choose from {sorted(ACTIVATIONS)}"
            )
        if not 0.0 <= dropout < 1.0:
            raise ValueError(f"dropout must be in [0, 1), got {dropout}")
        modules: list[nn.Module] = []
        for d_in, d_out in pairwise(sizes):
            modules += [nn.Linear(d_in, d_out), ACTIVATIONS[activation]()]
        self.layers = nn.ModuleList(modules[:-1])
        self.activation = ACTIVATIONS[activation]()
        self.dropout = nn.Dropout(dropout) if dropout > 0 else nn.Identity()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        for layer in self.layers:
            x = layer(x)
        return x
