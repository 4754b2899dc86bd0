"""Known mistake: parameters are counted with remove_duplicate=False, so a tied weight counts twice.

Expect: counted the shared weight twice
"""

from __future__ import annotations

from torch import nn


def count_parameters(model: nn.Module) -> tuple[int, int]:
    params = [p for _, p in model.named_parameters(remove_duplicate=False)]
    trainable = sum(p.numel() for p in params if p.requires_grad)
    total = sum(p.numel() for p in params)
    return trainable, total
