"""Known mistake: confusion_matrix puts predictions on the rows and true classes on the columns.

Expect: transposed
"""

from __future__ import annotations

import torch


def confusion_matrix(preds: torch.Tensor, targets: torch.Tensor, num_classes: int) -> torch.Tensor:
    c = int(num_classes)
    flat = preds.reshape(-1).long() * c + targets.reshape(-1).long()
    return torch.bincount(flat, minlength=c * c).reshape(c, c)
