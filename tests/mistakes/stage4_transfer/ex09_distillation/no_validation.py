"""Known mistake: T and alpha are not validated, so T=0 or alpha outside [0, 1] go through.

Expect: expected ValueError to be raised
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
    soft_student = F.log_softmax(student_logits / T, dim=1)
    soft_teacher = F.log_softmax(teacher_logits.detach() / T, dim=1)
    kd = F.kl_div(soft_student, soft_teacher, reduction="batchmean", log_target=True)
    ce = F.cross_entropy(student_logits, targets)
    return alpha * T**2 * kd + (1 - alpha) * ce
