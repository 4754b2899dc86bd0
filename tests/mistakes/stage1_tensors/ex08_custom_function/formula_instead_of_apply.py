"""Known mistake: scaled_swish computes the formula directly, so autograd never uses the custom backward.

Expect: ScaledSwishBackward
Expect: ScaledSwish.apply
"""

from __future__ import annotations

import torch


def scaled_swish(x: torch.Tensor, beta: torch.Tensor) -> torch.Tensor:
    return x * torch.sigmoid(beta * x)
