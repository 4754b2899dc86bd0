"""Known mistake: count_parameters counts every parameter, frozen ones (requires_grad=False) included.

Expect: requires_grad
"""

from __future__ import annotations

from torch import nn


def count_parameters(model: nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())
