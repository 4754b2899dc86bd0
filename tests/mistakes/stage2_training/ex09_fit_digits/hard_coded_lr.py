"""Known mistake: the optimizer is built with a hard-coded lr=0.5 instead of config['lr'], and training diverges.

Expect: has lr 0.5
"""

from __future__ import annotations

from typing import Any

import torch
from torch import nn


def make_optimizer(model: nn.Module, config: dict[str, Any]) -> torch.optim.Optimizer:
    if config["optimizer"] == "sgd":
        return torch.optim.SGD(
            model.parameters(),
            lr=config["lr"],
            momentum=config["momentum"],
            weight_decay=config["weight_decay"],
        )
    return torch.optim.Adam(model.parameters(), lr=0.5, weight_decay=config["weight_decay"])
