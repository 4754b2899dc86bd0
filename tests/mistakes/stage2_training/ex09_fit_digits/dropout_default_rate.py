"""Known mistake: build_model creates nn.Dropout() without the configured probability, so every Dropout layer drops with its default 0.5.

Expect: check the dropout probability
"""

from __future__ import annotations

from typing import Any

from torch import nn


def build_model(config: dict[str, Any]) -> nn.Module:
    layers: list[nn.Module] = [nn.Flatten()]
    width = NUM_FEATURES
    for hidden in config["hidden_sizes"]:
        layers += [nn.Linear(width, hidden), nn.ReLU(), nn.Dropout()]
        width = hidden
    layers.append(nn.Linear(width, NUM_CLASSES))
    return nn.Sequential(*layers)
