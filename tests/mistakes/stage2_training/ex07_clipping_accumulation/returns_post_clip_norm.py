"""Known mistake: train_step_clipped returns the norm measured after clipping.

Expect: that is the norm after clipping
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
    total_norm = torch.nn.utils.clip_grad_norm_(model.parameters(), max_norm)
    optimizer.step()
    del total_norm
    grads = [p.grad.reshape(-1) for p in model.parameters()]
    return float(torch.cat(grads).norm())
