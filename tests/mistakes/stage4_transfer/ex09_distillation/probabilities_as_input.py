"""Known mistake: F.kl_div is given the student's probabilities (softmax) instead of its log-probabilities.

Expect: must be log-probabilities
"""

from __future__ import annotations

import torch
from torch.nn import functional as F


def distillation_loss(
    student_logits: torch.Tensor,
    teacher_logits: torch.Tensor,
    targets: torch.Tensor,
    *,
    T: float = 4.0,
    alpha: float = 0.5,
) -> torch.Tensor:
    if not T > 0:
        raise ValueError(f"T must be > 0, got {T}")
    if not 0 <= alpha <= 1:
        raise ValueError(f"alpha must be in [0, 1], got {alpha}")
    student_probs = F.softmax(student_logits / T, dim=1)
    teacher_probs = F.softmax(teacher_logits.detach() / T, dim=1)
    kd = F.kl_div(student_probs, teacher_probs, reduction="batchmean")
    ce = F.cross_entropy(student_logits, targets)
    return alpha * T**2 * kd + (1 - alpha) * ce
