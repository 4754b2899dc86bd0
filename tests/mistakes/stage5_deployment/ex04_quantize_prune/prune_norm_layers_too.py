"""Known mistake: every module with a weight is pruned, BatchNorm and LayerNorm included.

Expect: prune only the weight of nn.Linear and nn.Conv2d
"""

from __future__ import annotations

from torch import nn
from torch.nn.utils import prune


def prune_l1(model: nn.Module, amount: float = 0.5) -> nn.Module:
    if not 0 <= amount < 1:
        raise ValueError(f"amount must be in [0, 1), got {amount}")
    for module in model.modules():
        if isinstance(getattr(module, "weight", None), nn.Parameter):
            prune.l1_unstructured(module, "weight", amount=amount)
            prune.remove(module, "weight")
    return model
