"""Known mistake: distill_step returns the loss tensor (with its graph) instead of a Python float.

Expect: Python float
"""

from __future__ import annotations

import torch
from torch import nn


def distill_step(
    student: nn.Module,
    teacher: nn.Module,
    x: torch.Tensor,
    y: torch.Tensor,
    optimizer: torch.optim.Optimizer,
    *,
    T: float = 4.0,
    alpha: float = 0.5,
) -> float:
    teacher.eval()
    with torch.no_grad():
        teacher_logits = teacher(x)
    student.train()
    optimizer.zero_grad()
    loss = distillation_loss(student(x), teacher_logits, y, T=T, alpha=alpha)
    loss.backward()
    optimizer.step()
    return loss
