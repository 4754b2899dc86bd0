"""Known mistake: accuracy returns a 0-dim tensor instead of a Python float.

Expect: Python float
"""

from __future__ import annotations

import torch


def accuracy(cm: torch.Tensor) -> float:
    total = int(cm.sum().item())
    if total == 0:
        return 0.0
    return cm.diagonal().sum() / total
