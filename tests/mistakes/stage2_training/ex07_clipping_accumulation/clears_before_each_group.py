"""Known mistake: train_accumulated clears the gradients before each group's first backward instead of right after each optimizer.step(), so the last group's gradients are left on the model.

Expect: still holds a gradient
"""

from __future__ import annotations

from collections.abc import Iterable

import torch
from torch import nn


def train_accumulated(
    model: nn.Module,
    batches: Iterable[tuple[torch.Tensor, torch.Tensor]],
    loss_fn: LossFn,
    optimizer: torch.optim.Optimizer,
    accum_steps: int,
) -> list[float]:
    losses: list[float] = []
    pending = 0
    for x, y in batches:
        if pending == 0:
            optimizer.zero_grad()
        loss = loss_fn(model(x), y)
        (loss / accum_steps).backward()
        losses.append(loss.item())
        pending += 1
        if pending == accum_steps:
            optimizer.step()
            pending = 0
    if pending:
        optimizer.step()
    return losses
