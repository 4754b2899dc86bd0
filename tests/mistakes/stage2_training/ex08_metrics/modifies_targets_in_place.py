"""Known mistake: confusion_matrix builds the pair index in place in the targets tensor (to save memory), changing the caller's targets.

Expect: changed in place
"""

from __future__ import annotations

import torch


def confusion_matrix(preds: torch.Tensor, targets: torch.Tensor, num_classes: int) -> torch.Tensor:
    c = int(num_classes)
    flat = targets.view(-1)
    flat.mul_(c).add_(preds.view(-1))
    return torch.bincount(flat, minlength=c * c).reshape(c, c)
