"""Known mistake: accuracy averages the diagonal over each row's sum (per-class recall) instead of pooling all samples.

Expect: mean of per-class ratios
"""

from __future__ import annotations

import torch


def accuracy(cm: torch.Tensor) -> float:
    total = int(cm.sum().item())
    if total == 0:
        return 0.0
    return (cm.diagonal() / cm.sum(dim=1).clamp(min=1)).mean().item()
