"""Known mistake: scheduler.step() is called before optimizer.step() (PyTorch <1.1 order).

Expect: before the first optimizer.step()
Expect: after optimizer.step()
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import torch
from torch import nn
from torch.optim.lr_scheduler import LambdaLR, LRScheduler, ReduceLROnPlateau, StepLR


def train_with_schedule(
    model: nn.Module,
    batches: Sequence[Batch],
    loss_fn: LossFn,
    optimizer: torch.optim.Optimizer,
    scheduler: LRScheduler,
    epochs: int,
    *,
    per_batch: bool,
) -> list[float]:
    model.train()
    lrs: list[float] = []
    for _ in range(epochs):
        for batch in batches:
            if per_batch:
                scheduler.step()
            lrs.append(float(optimizer.param_groups[0]["lr"]))
            _train_step(model, batch, loss_fn, optimizer)
        if not per_batch:
            scheduler.step()
    return lrs
