"""Known mistake: macro_f1 pools true positives, false positives and false negatives over all classes (micro F1).

Expect: micro F1
"""

from __future__ import annotations

import torch


def macro_f1(cm: torch.Tensor) -> float:
    tp = cm.diagonal().sum()
    fp = cm.sum(dim=0).sum() - tp
    fn = cm.sum(dim=1).sum() - tp
    denominator = 2 * tp + fp + fn
    return (2 * tp / denominator).item() if denominator > 0 else 0.0
