"""Known mistake: the gradient is clipped after optimizer.step(), when the update has already been made.

Expect: clipping after the step only changes
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
    optimizer.step()
    total_norm = torch.nn.utils.clip_grad_norm_(model.parameters(), max_norm)
    return float(total_norm)
