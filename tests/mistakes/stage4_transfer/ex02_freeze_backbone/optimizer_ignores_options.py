"""Known mistake: make_optimizer hard-codes lr=0.01 and momentum=0.9 and ignores its arguments.

Expect: the group's lr
"""

from __future__ import annotations

import torch
from torch import nn


def make_optimizer(
    model: nn.Module, lr: float = 0.01, momentum: float = 0.9, weight_decay: float = 0.0
) -> torch.optim.SGD:
    trainable = [p for p in model.parameters() if p.requires_grad]
    return torch.optim.SGD(trainable, lr=0.01, momentum=0.9, weight_decay=weight_decay)
