"""Known mistake: feature_shape runs the model as it is, so BatchNorm updates its running statistics.

Expect: running statistics
"""

from __future__ import annotations

import torch
from torch import nn


def feature_shape(model: nn.Sequential, input_shape) -> tuple[int, ...]:
    device = next(model.parameters()).device
    with torch.no_grad():
        out = model(torch.zeros(tuple(input_shape), device=device))
    return tuple(out.shape)
