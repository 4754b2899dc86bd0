"""Known mistake: train_with_plateau steps ReduceLROnPlateau after every batch with the batch loss.

Expect: after every batch
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
        model.train()
        lrs.append(float(optimizer.param_groups[0]["lr"]))
        for batch in train_batches:
            x, y = batch
            optimizer.zero_grad()
            loss = loss_fn(model(x), y)
            loss.backward()
            optimizer.step()
            scheduler.step(loss.item())
        val_fn(model)
    return lrs
