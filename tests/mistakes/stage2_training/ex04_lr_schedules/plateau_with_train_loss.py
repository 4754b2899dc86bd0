"""Known mistake: ReduceLROnPlateau is fed the epoch's mean training loss instead of the validation loss.

Expect: a training loss
Expect: scheduler.step(val_loss)
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import torch
from torch import nn
from torch.optim.lr_scheduler import LambdaLR, LRScheduler, ReduceLROnPlateau, StepLR


def _train_step(
    model: nn.Module, batch: Batch, loss_fn: LossFn, optimizer: torch.optim.Optimizer
) -> float:
    x, y = batch
    optimizer.zero_grad()
    loss = loss_fn(model(x), y)
    loss.backward()
    optimizer.step()
    return loss.item()


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
        model.train()
        lrs.append(float(optimizer.param_groups[0]["lr"]))
        losses = [_train_step(model, batch, loss_fn, optimizer) for batch in train_batches]
        val_fn(model)
        scheduler.step(sum(losses) / len(losses))
    return lrs
