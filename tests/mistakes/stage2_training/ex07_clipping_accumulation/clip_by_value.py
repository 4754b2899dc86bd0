"""Known mistake: clip_grad_value_ is used instead of clip_grad_norm_.

Expect: element by element
"""

from __future__ import annotations

import torch
from torch import nn


def train_step_clipped(
    model: nn.Module,
    x: torch.Tensor,
    y: torch.Tensor,
    loss_fn: LossFn,
    optimizer: torch.optim.Optimizer,
    max_norm: float,
) -> float:
    optimizer.zero_grad()
    loss = loss_fn(model(x), y)
    loss.backward()
    total_norm = torch.cat([p.grad.reshape(-1) for p in model.parameters()]).norm()
    torch.nn.utils.clip_grad_value_(model.parameters(), max_norm)
    optimizer.step()
    return float(total_norm)
