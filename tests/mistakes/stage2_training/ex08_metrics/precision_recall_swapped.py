"""Known mistake: precision divides by row sums and recall by column sums.

Expect: swapped
"""

from __future__ import annotations

import torch


def precision_recall(cm: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    tp = cm.diagonal()
    return _safe_divide(tp, cm.sum(dim=1)), _safe_divide(tp, cm.sum(dim=0))
