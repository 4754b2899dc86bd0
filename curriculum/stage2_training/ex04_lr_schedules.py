"""2.4 Learning-rate schedules, stepped at the right time.

Implement make_step_scheduler, make_warmup_cosine, train_with_schedule and
train_with_plateau below, then run ``make check ex=2.4``.
The lesson is in README.md next to this file.
"""

from __future__ import annotations

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
    # TODO(2.4): One line: torch.optim.lr_scheduler.StepLR with these arguments.
    raise NotImplementedError("2.4: make_step_scheduler")


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
    # TODO(2.4): Check the arguments, write f(s) as a small function, wrap it in LambdaLR.
    raise NotImplementedError("2.4: make_warmup_cosine")


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
    # TODO(2.4): Record the lr, train on the batch, then step the scheduler when asked.
    raise NotImplementedError("2.4: train_with_schedule")


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
    # TODO(2.4): Each epoch: model.train(), train, val_fn(model), scheduler.step(val_loss).
    raise NotImplementedError("2.4: train_with_plateau")
