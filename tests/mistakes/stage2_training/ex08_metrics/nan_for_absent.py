"""Known mistake: precision and recall divide by the column and row sums without guarding 0/0, giving NaN for absent classes.

Expect: NaN
"""

from __future__ import annotations

import torch


def precision_recall(cm: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    tp = cm.diagonal()
    return tp / cm.sum(dim=0), tp / cm.sum(dim=1)


def macro_f1(cm: torch.Tensor) -> float:
    precision, recall = precision_recall(cm)
    f1 = 2 * precision * recall / (precision + recall)
    return f1.mean().item()
