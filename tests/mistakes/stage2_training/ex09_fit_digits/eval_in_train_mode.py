"""Known mistake: evaluation never calls model.eval(), so validation and test run in train mode.

Expect: model.eval()
"""

from __future__ import annotations

import torch
from torch import nn
from torch.nn import functional as F


def _evaluate(
    model: nn.Module, x: torch.Tensor, y: torch.Tensor, device: torch.device
) -> tuple[float, float]:
    with torch.no_grad():
        logits = model(x.to(device))
        y = y.to(device)
        loss = F.cross_entropy(logits, y).item()
        correct = (logits.argmax(dim=1) == y).sum().item()
    return loss, correct / len(y)
