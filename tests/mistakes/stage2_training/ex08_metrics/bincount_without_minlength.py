"""Known mistake: bincount without minlength returns only as many counts as the largest index seen, so the reshape fails when the last classes never occur.

Expect: minlength
"""

from __future__ import annotations

import torch


def confusion_matrix(preds: torch.Tensor, targets: torch.Tensor, num_classes: int) -> torch.Tensor:
    c = int(num_classes)
    flat = targets.reshape(-1).long() * c + preds.reshape(-1).long()
    return torch.bincount(flat).reshape(c, c)
