"""Known mistake: the new head is built with nn.Linear's defaults: float32 on the CPU, whatever the model.

Expect: device=old.weight.device, dtype=old.weight.dtype
"""

from __future__ import annotations

from torch import nn


def replace_head(model: nn.Module, num_classes: int, *, dropout: float = 0.0) -> nn.Module:
    if num_classes < 1:
        raise ValueError(f"num_classes must be at least 1, got {num_classes}")
    if not 0.0 <= dropout < 1.0:
        raise ValueError(f"dropout must be in [0, 1), got {dropout}")
    old = model.fc
    if isinstance(old, nn.Sequential):
        old = old[-1]
    linear = nn.Linear(old.in_features, num_classes)
    nn.init.kaiming_normal_(linear.weight, mode="fan_in", nonlinearity="relu")
    nn.init.zeros_(linear.bias)
    model.fc = nn.Sequential(nn.Dropout(dropout), linear) if dropout > 0 else linear
    return model
