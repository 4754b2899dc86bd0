"""Known mistake: the optimizer gets model.parameters(), frozen ones included.

Expect: holds frozen parameters
Expect: the frozen
"""

from __future__ import annotations

import torch
from torch import nn


def make_optimizer(
    model: nn.Module, lr: float = 0.01, momentum: float = 0.9, weight_decay: float = 0.0
) -> torch.optim.SGD:
    return torch.optim.SGD(
        model.parameters(), lr=lr, momentum=momentum, weight_decay=weight_decay
    )
