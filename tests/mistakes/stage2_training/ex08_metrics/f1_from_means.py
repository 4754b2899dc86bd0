"""Known mistake: macro_f1 takes the F1 of the mean precision and the mean recall instead of averaging per-class F1.

Expect: F1 of the mean precision
"""

from __future__ import annotations

import torch


def macro_f1(cm: torch.Tensor) -> float:
    precision, recall = precision_recall(cm)
    p, r = precision.mean(), recall.mean()
    return (2 * p * r / (p + r)).item() if p + r > 0 else 0.0
