"""Known mistake: predict runs the model under torch.no_grad() instead of torch.inference_mode().

Expect: inference_mode
"""

from __future__ import annotations

import torch
from torch import nn


def predict(model: nn.Module, x: torch.Tensor) -> torch.Tensor:
    with torch.no_grad():
        return model(x)
