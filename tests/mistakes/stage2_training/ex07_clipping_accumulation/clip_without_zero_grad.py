"""Known mistake: train_step_clipped never clears old gradients before backward.

Expect: left over from before the call
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
    loss = loss_fn(model(x), y)
    loss.backward()
    total_norm = torch.nn.utils.clip_grad_norm_(model.parameters(), max_norm)
    optimizer.step()
    return float(total_norm)
