"""Known mistake: make_warmup_cosine refuses min_lr_ratio=1.0 (checks 0 <= m < 1), a valid value.

Expect: these arguments are valid
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence

import torch
from torch import nn
from torch.optim.lr_scheduler import LambdaLR, LRScheduler, ReduceLROnPlateau, StepLR

Batch = tuple[torch.Tensor, torch.Tensor]
LossFn = Callable[[torch.Tensor, torch.Tensor], torch.Tensor]


def make_step_scheduler(optimizer: torch.optim.Optimizer, step_size: int, gamma: float) -> StepLR:
    """Return a ``StepLR`` that multiplies every group's lr by ``gamma`` every ``step_size`` steps.

    After ``k`` calls of ``scheduler.step()`` each parameter group's lr is
    ``base_lr * gamma ** (k // step_size)``, where ``base_lr`` is the group's lr when the
    scheduler was made. Use ``torch.optim.lr_scheduler.StepLR`` on ``optimizer``.
    """
    return StepLR(optimizer, step_size=step_size, gamma=gamma)


def make_warmup_cosine(
    optimizer: torch.optim.Optimizer,
    warmup_steps: int,
    total_steps: int,
    min_lr_ratio: float = 0.0,
) -> LambdaLR:
    """Return a ``LambdaLR``: linear warmup, then cosine decay to ``min_lr_ratio * base_lr``.

    Write ``W = warmup_steps``, ``T = total_steps``, ``m = min_lr_ratio``. After ``s``
    calls of ``scheduler.step()`` (so ``s = 0`` right after construction, and ``s`` is the
    index of the next optimizer step when the scheduler is stepped once after each
    optimizer step), every group's lr is ``base_lr * f(s)`` with::

        f(s) = (s + 1) / W                                          if s < W
        f(s) = m + (1 - m) * 0.5 * (1 + cos(pi * (s - W) / (T - W)))  if W <= s < T
        f(s) = m                                                    if s >= T

    So the very first step already trains at ``base_lr / W`` (not 0), the lr reaches
    ``base_lr`` at step ``W - 1`` and is still ``base_lr`` at step ``W`` (where the cosine
    starts), and it reaches ``m * base_lr`` at step ``T`` and stays there. ``W = 0`` means
    no warmup: the cosine starts at step 0.

    The lambda returns a *multiplier* of each group's base lr (``LambdaLR`` multiplies), so
    groups with different base lrs keep their ratio. Raise ``ValueError`` unless
    ``0 <= warmup_steps < total_steps`` and ``0 <= min_lr_ratio <= 1``.
    """
    if not 0 <= warmup_steps < total_steps:
        raise ValueError(f"need 0 <= warmup_steps < total_steps, got {warmup_steps}, {total_steps}")
    if not 0.0 <= min_lr_ratio < 1.0:
        raise ValueError(f"min_lr_ratio must be in [0, 1], got {min_lr_ratio}")

    def factor(step: int) -> float:
        if step < warmup_steps:
            return (step + 1) / warmup_steps
        if step >= total_steps:
            return min_lr_ratio
        progress = (step - warmup_steps) / (total_steps - warmup_steps)
        return min_lr_ratio + (1.0 - min_lr_ratio) * 0.5 * (1.0 + math.cos(math.pi * progress))

    return LambdaLR(optimizer, factor)


def _train_step(
    model: nn.Module, batch: Batch, loss_fn: LossFn, optimizer: torch.optim.Optimizer
) -> None:
    x, y = batch
    optimizer.zero_grad()
    loss = loss_fn(model(x), y)
    loss.backward()
    optimizer.step()


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
    """Train for ``epochs`` passes over ``batches``, stepping ``scheduler`` at the right time.

    - ``batches`` is a list of ``(x, y)`` tensors already on the model's device; each
      epoch goes through it in order. Call ``model.train()`` at the start.
    - Every batch: ``optimizer.zero_grad()``, forward, ``loss_fn(output, y)``,
      ``backward()``, ``optimizer.step()``.
    - ``per_batch=True``: call ``scheduler.step()`` right after every ``optimizer.step()``
      (schedules counted in optimizer steps, such as warmup + cosine).
      ``per_batch=False``: call ``scheduler.step()`` once per epoch, after the epoch's last
      ``optimizer.step()`` (schedules counted in epochs, such as ``StepLR(step_size=30)``).
    - Never call ``scheduler.step()`` before the first ``optimizer.step()``: the first step
      must use the initial learning rate (PyTorch warns when the order is wrong).

    Returns the learning rate used by each optimizer step, in order: a list of
    ``epochs * len(batches)`` Python floats, each ``optimizer.param_groups[0]["lr"]`` read
    just before that ``optimizer.step()``.
    """
    model.train()
    lrs: list[float] = []
    for _ in range(epochs):
        for batch in batches:
            lrs.append(float(optimizer.param_groups[0]["lr"]))
            _train_step(model, batch, loss_fn, optimizer)
            if per_batch:
                scheduler.step()
        if not per_batch:
            scheduler.step()
    return lrs


def train_with_plateau(
    model: nn.Module,
    train_batches: Sequence[Batch],
    loss_fn: LossFn,
    val_fn: Callable[[nn.Module], float],
    optimizer: torch.optim.Optimizer,
    scheduler: ReduceLROnPlateau,
    epochs: int,
) -> list[float]:
    """Train for ``epochs`` epochs, letting ``ReduceLROnPlateau`` watch the validation loss.

    Each epoch, in this order:

    1. ``model.train()`` (``val_fn`` may have left the model in eval mode), then one
       training step per batch of ``train_batches``, as in :func:`train_with_schedule`;
    2. ``val_loss = val_fn(model)``, called exactly once: a Python float, the loss on
       held-out data (``val_fn`` switches the model to eval mode itself);
    3. ``scheduler.step(val_loss)``: the *validation* loss, not a training loss, once.

    Returns the learning rate in force during each epoch's training
    (``optimizer.param_groups[0]["lr"]``): a list of ``epochs`` Python floats.
    """
    lrs: list[float] = []
    for _ in range(epochs):
        model.train()
        lrs.append(float(optimizer.param_groups[0]["lr"]))
        for batch in train_batches:
            _train_step(model, batch, loss_fn, optimizer)
        val_loss = val_fn(model)
        scheduler.step(val_loss)
    return lrs
