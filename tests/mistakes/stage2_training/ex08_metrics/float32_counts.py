"""Known mistake: confusion_matrix accumulates counts in a float32 zeros matrix, so the counts come back as floats.

Expect: int64
"""

from __future__ import annotations

import torch


def confusion_matrix(preds: torch.Tensor, targets: torch.Tensor, num_classes: int) -> torch.Tensor:
    c = int(num_classes)
    flat = targets.reshape(-1).long() * c + preds.reshape(-1).long()
    cm = torch.zeros(c * c, device=flat.device)
    cm.index_add_(0, flat, torch.ones_like(flat, dtype=torch.float32))
    return cm.reshape(c, c)
