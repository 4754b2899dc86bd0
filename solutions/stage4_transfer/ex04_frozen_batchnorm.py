"""4.4 Frozen BatchNorm stays frozen while the head trains.

Write set_trainable_mode and train_head below, then run ``make check ex=4.4``.
The lesson is in README.md next to this file.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable

import torch
from torch import nn
from torch.nn.modules.batchnorm import _BatchNorm


def set_trainable_mode(model: nn.Module) -> nn.Module:
    """Put ``model`` in train mode, except its frozen BatchNorm layers, which go to eval mode.

    Freezing a BatchNorm layer's ``weight`` and ``bias`` (``requires_grad=False``) does not
    freeze the layer: in train mode it still normalises with each batch's statistics and
    overwrites its ``running_mean``, ``running_var`` and ``num_batches_tracked`` buffers.
    Only eval mode stops that. This function makes the mode follow the freezing:

    1. ``model.train()``: every module, at every depth, goes to train mode (the model
       may arrive in eval mode, or with layers left in eval mode by an earlier call).
    2. Then every *frozen* BatchNorm layer goes to eval mode (``layer.eval()``). A
       BatchNorm layer is an instance of ``torch.nn.modules.batchnorm._BatchNorm``:
       ``nn.BatchNorm1d``, ``nn.BatchNorm2d``, ``nn.BatchNorm3d``, ``nn.SyncBatchNorm``
       and their subclasses. It is frozen when

       - it has parameters (``affine=True``) and none of them requires grad (a layer
         with a trainable ``weight`` or a trainable ``bias`` is not frozen); or
       - it has no parameters (``affine=False``) and the module that holds it as a
         direct child has at least one parameter (counting that module's submodules,
         as ``parent.parameters()`` does) and none of them requires grad. Such a layer
         follows the block it sits in. One whose parent has no parameters at all, or
         that is the model itself, is not frozen.

    Every other module stays in train mode, frozen or not: convolutions, linear layers,
    ``nn.Dropout`` (so the head's dropout stays active), the containers, the trainable
    BatchNorm layers, and the other normalisation layers (``nn.LayerNorm``,
    ``nn.GroupNorm``, ``nn.InstanceNorm*d``: they are not ``_BatchNorm`` subclasses).

    Nothing else changes: no ``requires_grad`` flag, parameter or buffer is touched.

    Args:
        model: any ``nn.Module``.

    Returns:
        ``model`` itself (the same object), so that ``set_trainable_mode(model)(x)`` works.
    """
    model.train()
    for parent in model.modules():
        for child in parent.children():
            if not isinstance(child, _BatchNorm):
                continue
            own = list(child.parameters())
            params = own if own else list(parent.parameters())
            if params and not any(p.requires_grad for p in params):
                child.eval()
    return model


def train_head(
    model: nn.Module,
    loader: Iterable[tuple[torch.Tensor, torch.Tensor]],
    optimizer: torch.optim.Optimizer,
    loss_fn: Callable[[torch.Tensor, torch.Tensor], torch.Tensor],
    device: str | torch.device,
) -> float:
    """Train for one epoch over ``loader``, keeping the frozen BatchNorm statistics as they are.

    1. Call ``set_trainable_mode(model)`` first (not ``model.train()``, which would let the
       frozen BatchNorm layers overwrite their running statistics). The model may arrive
       in eval mode.
    2. For each ``(x, y)`` batch of ``loader``, in order: move ``x`` and ``y`` to
       ``device`` (the model is already there; the batches may be on the CPU), then
       ``optimizer.zero_grad()``, ``logits = model(x)``, ``loss = loss_fn(logits, y)``,
       ``loss.backward()``, ``optimizer.step()``: one forward pass and one update per
       batch. The optimizer holds only the trainable parameters (the head, and any
       unfrozen block); ``loss_fn`` returns the mean loss of the batch.
    3. Return the mean loss per sample over the epoch, a Python ``float``: each batch's
       ``loss.item()`` weighted by its number of samples ``x.shape[0]``, summed, and
       divided by the total number of samples (the last batch may be smaller).

    Frozen BatchNorm layers keep ``running_mean``, ``running_var`` and
    ``num_batches_tracked`` bitwise unchanged; a trainable BatchNorm layer (in an
    unfrozen block) updates them as usual, and the head's ``nn.Dropout`` drops units.
    The batches themselves are not modified.

    Args:
        model: the network, on ``device``; some parameters frozen (``requires_grad=False``).
        loader: an iterable of ``(x, y)`` batches (at least one): a ``DataLoader`` or a
            list of tuples.
        optimizer: an optimizer over the trainable parameters.
        loss_fn: ``loss_fn(logits, y)`` returns a scalar tensor, the batch mean
            (``nn.CrossEntropyLoss()``, for example).
        device: where the batches go (a ``str`` such as ``"cpu"`` or a ``torch.device``).

    Returns:
        The mean training loss per sample, as a Python ``float``.
    """
    set_trainable_mode(model)
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
