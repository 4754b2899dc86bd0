"""Known mistake: predict switches the model to eval mode, which is not its job.

Expect: switched the model
"""

from __future__ import annotations

import torch
from torch import nn


def predict(model: nn.Module, x: torch.Tensor) -> torch.Tensor:
    model.eval()
    with torch.inference_mode():
        return model(x)
