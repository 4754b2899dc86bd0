"""Known mistake: pruning by hand with int(amount * numel), which truncates where prune rounds.

Expect: half to even
"""

from __future__ import annotations

import torch
from torch import nn


def prune_l1(model: nn.Module, amount: float = 0.5) -> nn.Module:
    if not 0 <= amount < 1:
        raise ValueError(f"amount must be in [0, 1), got {amount}")
    for module in model.modules():
        if isinstance(module, (nn.Linear, nn.Conv2d)):
            w = module.weight.detach()
            k = int(amount * w.numel())
            if k:
                idx = torch.topk(w.abs().reshape(-1), k, largest=False).indices
                with torch.no_grad():
                    module.weight.view(-1)[idx] = 0.0
    return model
