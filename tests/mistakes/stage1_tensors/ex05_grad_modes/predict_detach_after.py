"""Known mistake: predict runs the model with autograd on and detaches the output afterwards.

Expect: recording a graph
"""

from __future__ import annotations

import torch
from torch import nn


def predict(model: nn.Module, x: torch.Tensor) -> torch.Tensor:
    return model(x).detach()
