"""Known mistake: evaluate ignores the loss_fn it is given and computes F.cross_entropy itself.

Expect: loss_fn was never called
"""

from __future__ import annotations

from collections.abc import Callable, Iterable

import torch
import torch.nn.functional as F
from torch import nn


def train_one_epoch(
    model: nn.Module,
    loader: Iterable[tuple[torch.Tensor, torch.Tensor]],
    loss_fn: Callable[[torch.Tensor, torch.Tensor], torch.Tensor],
    optimizer: torch.optim.Optimizer,
    device: torch.device | str,
) -> float:
    """Train ``model`` for one pass over ``loader``; return the epoch's mean loss per sample.

    - ``model`` is already on ``device``; it may arrive in eval mode (for example straight
      after :func:`evaluate`), so switch it to training mode with ``model.train()`` first.
    - ``loader`` is any iterable of ``(x, y)`` batches: a ``DataLoader`` or a plain list
      of tuples. The batches may be on the CPU: move ``x`` and ``y`` to ``device``. Do not
      assume ``len(loader.dataset)`` exists; count the samples as you go. The loader
      yields at least one batch.
    - ``loss_fn(logits, y)`` (for example ``nn.CrossEntropyLoss()``) returns the *mean*
      loss of a batch; give it the model's raw output (logits), exactly as returned.
    - For every batch, in this order: clear the old gradients
      (``optimizer.zero_grad()``), forward, loss, ``loss.backward()``,
      ``optimizer.step()``: exactly one optimizer step per batch.

    Returns the mean loss per sample over the epoch, as a Python ``float``: each batch's
    loss (``loss.item()``, taken during its training step, before the update) weighted by
    its number of samples ``x.shape[0]``, divided by the total number of samples. With a
    smaller last batch this differs from the plain mean of the batch losses. Keep no
    autograd graph from one batch to the next (accumulate Python floats, not tensors).
    """
    model.train()
    total, count = 0.0, 0
    for x, y in loader:
        x, y = x.to(device), y.to(device)
        optimizer.zero_grad()
        loss = loss_fn(model(x), y)
        loss.backward()
        optimizer.step()
        total += loss.item() * x.shape[0]
        count += x.shape[0]
    return total / count


def evaluate(
    model: nn.Module,
    loader: Iterable[tuple[torch.Tensor, torch.Tensor]],
    loss_fn: Callable[[torch.Tensor, torch.Tensor], torch.Tensor],
    device: torch.device | str,
) -> dict[str, float]:
    """Measure ``model`` on ``loader`` without training it.

    - Switch the model to evaluation mode with ``model.eval()`` (Dropout off, BatchNorm
      uses and does not update its running statistics) and run every forward pass under
      ``torch.no_grad()`` (or ``torch.inference_mode()``): no graph is built.
    - Move each batch to ``device`` as in :func:`train_one_epoch`; the loader is any
      iterable of ``(x, y)`` batches with at least one batch.
    - Do not call ``backward()``, do not touch any ``.grad``, do not change any parameter.
    - The model is left in eval mode afterwards (that is fine: :func:`train_one_epoch`
      switches it back at its start).

    Returns ``{"loss": float, "accuracy": float}``, both Python floats:

    - ``"loss"``: the mean loss per sample, weighted by batch size as in
      :func:`train_one_epoch` (``loss_fn`` is given the logits);
    - ``"accuracy"``: the fraction (between 0 and 1, not a percentage) of samples whose
      predicted class ``logits.argmax(dim=1)`` equals ``y``, over all samples.
    """
    model.eval()
    total_loss, correct, count = 0.0, 0, 0
    with torch.no_grad():
        for x, y in loader:
            x, y = x.to(device), y.to(device)
            logits = model(x)
            total_loss += F.cross_entropy(logits, y).item() * x.shape[0]
            correct += int((logits.argmax(dim=1) == y).sum().item())
            count += x.shape[0]
    return {"loss": total_loss / count, "accuracy": correct / count}
