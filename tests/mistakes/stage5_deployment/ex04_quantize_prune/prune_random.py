"""Known mistake: random_unstructured zeroes random weights instead of those of smallest magnitude.

Expect: zeroes the weights of smallest |w|
"""

from __future__ import annotations

from torch import nn
from torch.nn.utils import prune


def prune_l1(model: nn.Module, amount: float = 0.5) -> nn.Module:
    if not 0 <= amount < 1:
        raise ValueError(f"amount must be in [0, 1), got {amount}")
    for module in model.modules():
        if isinstance(module, (nn.Linear, nn.Conv2d)):
            prune.random_unstructured(module, "weight", amount=amount)
            prune.remove(module, "weight")
    return model
