"""Known mistake: counts parameter tensors instead of their elements.

Expect: p.numel()
"""

from __future__ import annotations

from torch import nn


def count_parameters(model: nn.Module) -> tuple[int, int]:
    params = list(model.parameters())
    return sum(1 for p in params if p.requires_grad), len(params)
