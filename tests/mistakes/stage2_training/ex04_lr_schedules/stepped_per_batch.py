"""Known mistake: train_with_schedule steps the scheduler after every batch, whatever per_batch says.

Expect: stepped after every batch
Expect: once per epoch
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
            lrs.append(float(optimizer.param_groups[0]["lr"]))
            _train_step(model, batch, loss_fn, optimizer)
            scheduler.step()
    return lrs
