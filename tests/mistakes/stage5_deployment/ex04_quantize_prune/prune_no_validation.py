"""Known mistake: amount is not validated, so amount=1.0 silently empties every layer.

Expect: expected ValueError to be raised
"""

from __future__ import annotations

from torch import nn
from torch.nn.utils import prune


def prune_l1(model: nn.Module, amount: float = 0.5) -> nn.Module:
    for module in model.modules():
        if isinstance(module, (nn.Linear, nn.Conv2d)):
            prune.l1_unstructured(module, "weight", amount=amount)
            prune.remove(module, "weight")
    return model
