"""Known mistake: confusion_matrix loops over the samples in Python, one tensor update per sample.

Expect: Python loop
"""

from __future__ import annotations

import torch


def confusion_matrix(preds: torch.Tensor, targets: torch.Tensor, num_classes: int) -> torch.Tensor:
    c = int(num_classes)
    cm = torch.zeros(c, c, dtype=torch.int64, device=preds.device)
    for t, p in zip(targets, preds):
        cm[t, p] += 1
    return cm
