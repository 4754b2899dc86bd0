"""Known mistake: amount is checked only after every layer was pruned, so 1.0 empties them.

Expect: check amount before any layer is changed
"""

from __future__ import annotations

from torch import nn
from torch.nn.utils import prune


def prune_l1(model: nn.Module, amount: float = 0.5) -> nn.Module:
    for module in model.modules():
        if isinstance(module, (nn.Linear, nn.Conv2d)):
            prune.l1_unstructured(module, "weight", amount=amount)  # refuses < 0 and > 1 itself
            prune.remove(module, "weight")
    if amount >= 1:
        raise ValueError(f"amount must be below 1, got {amount}")
    return model
