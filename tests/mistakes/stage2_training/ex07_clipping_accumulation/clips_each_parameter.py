"""Known mistake: each parameter's gradient is clipped to max_norm separately.

Expect: clipped to max_norm on its own
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
    norms = [torch.nn.utils.clip_grad_norm_([p], max_norm) for p in model.parameters()]
    total_norm = torch.stack(norms).norm()
    optimizer.step()
    return float(total_norm)
