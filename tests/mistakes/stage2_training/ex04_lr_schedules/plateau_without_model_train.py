"""Known mistake: train_with_plateau never switches back to train mode after val_fn.

Expect: model.train() at the start of every epoch
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import torch
from torch import nn
from torch.optim.lr_scheduler import LambdaLR, LRScheduler, ReduceLROnPlateau, StepLR


def train_with_plateau(
    model: nn.Module,
    train_batches: Sequence[Batch],
    loss_fn: LossFn,
    val_fn: Callable[[nn.Module], float],
    optimizer: torch.optim.Optimizer,
    scheduler: ReduceLROnPlateau,
    epochs: int,
) -> list[float]:
    lrs: list[float] = []
    for _ in range(epochs):
        lrs.append(float(optimizer.param_groups[0]["lr"]))
        for batch in train_batches:
            _train_step(model, batch, loss_fn, optimizer)
        val_loss = val_fn(model)
        scheduler.step(val_loss)
    return lrs
