"""Known mistake: distill_step runs the teacher's forward with grad mode on (relying on the loss to detach its logits).

Expect: torch.no_grad()
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
    teacher_logits = teacher(x)
    student.train()
    optimizer.zero_grad()
    loss = distillation_loss(student(x), teacher_logits, y, T=T, alpha=alpha)
    loss.backward()
    optimizer.step()
    return loss.item()
