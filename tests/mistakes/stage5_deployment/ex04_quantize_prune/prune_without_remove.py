"""Known mistake: l1_unstructured without prune.remove, so weight_orig, weight_mask and a pre-hook remain.

Expect: prune.remove(module, 'weight')
"""

from __future__ import annotations

from torch import nn
from torch.nn.utils import prune


def prune_l1(model: nn.Module, amount: float = 0.5) -> nn.Module:
    if not 0 <= amount < 1:
        raise ValueError(f"amount must be in [0, 1), got {amount}")
    for module in model.modules():
        if isinstance(module, (nn.Linear, nn.Conv2d)):
            prune.l1_unstructured(module, "weight", amount=amount)
    return model
