"""Known mistake: one global L1 threshold over all layers (global_unstructured) instead of layer by layer.

Expect: not with one global threshold
"""

from __future__ import annotations

from torch import nn
from torch.nn.utils import prune


def prune_l1(model: nn.Module, amount: float = 0.5) -> nn.Module:
    if not 0 <= amount < 1:
        raise ValueError(f"amount must be in [0, 1), got {amount}")
    layers = [m for m in model.modules() if isinstance(m, (nn.Linear, nn.Conv2d))]
    prune.global_unstructured(
        [(m, "weight") for m in layers], pruning_method=prune.L1Unstructured, amount=amount
    )
    for module in layers:
        prune.remove(module, "weight")
    return model
