"""Known mistake: train_accumulated steps for the last, incomplete group but does not clear the gradients after it, so the model is left holding them.

Expect: still holds a gradient
Expect: the step of the last, incomplete group included
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
    optimizer.zero_grad()
    losses: list[float] = []
    pending = 0
    for x, y in batches:
        loss = loss_fn(model(x), y)
        (loss / accum_steps).backward()
        losses.append(loss.item())
        pending += 1
        if pending == accum_steps:
            optimizer.step()
            optimizer.zero_grad()
            pending = 0
    if pending:
        optimizer.step()
    return losses
