"""4.2 Freeze the backbone, train only the head (reference solution)."""

from __future__ import annotations

from collections.abc import Iterable

import torch
from torch import nn


def freeze_all_but(model: nn.Module, trainable: str | Iterable[str] = ("fc",)) -> nn.Module:
    """Freeze every parameter of ``model`` except those under the ``trainable`` prefixes.

    A parameter's name is the one ``model.named_parameters()`` gives, e.g.
    ``"layer4.0.conv1.weight"`` (a parameter shared by two modules is listed once, under
    its first name). A name matches a prefix when it *is* the prefix or starts with the
    prefix followed by a dot, so prefixes stand for whole name components: ``"fc"`` matches
    ``fc.weight`` and ``fc.0.bias`` but not ``fcx.weight``; ``"layer4.0"`` matches
    ``layer4.0.conv1.weight``; ``"bn1"`` matches ``bn1.weight`` but not
    ``layer1.0.bn1.weight``; ``"fc.weight"`` matches only ``fc.weight``.

    Every parameter whose name matches one of the prefixes gets ``requires_grad=True``
    (also one that was frozen before the call), every other one ``requires_grad=False``.

    Args:
        model: any ``nn.Module``; modified in place.
        trainable: the prefixes, a tuple or list of strings. ``()`` freezes everything; a
            single string counts as one prefix (``"fc"`` means ``("fc",)``).

    Returns:
        ``model`` itself (not a copy). Buffers (BatchNorm's running statistics), the
        values of the parameters and the train/eval mode are left as they were.

    Raises:
        ValueError: a prefix matches no parameter; the message names that prefix in
            quotes (``f"... {prefix!r} ..."``, so ``'f'`` reads as a name, not a letter).
            Raised before any ``requires_grad`` flag is changed.

    """
    prefixes = (trainable,) if isinstance(trainable, str) else tuple(trainable)
    named = list(model.named_parameters())

    def matches(name: str, prefix: str) -> bool:
        return name == prefix or name.startswith(prefix + ".")

    for prefix in prefixes:
        if not any(matches(name, prefix) for name, _ in named):
            raise ValueError(f"the prefix {prefix!r} matches no parameter of the model")
    for name, param in named:
        param.requires_grad_(any(matches(name, prefix) for prefix in prefixes))
    return model


def count_parameters(model: nn.Module) -> tuple[int, int]:
    """Count the trainable and all parameter elements of ``model``.

    Elements, not tensors: a ``Linear(4, 3)`` has 15 (``numel``). A parameter shared by
    several modules counts once, and buffers (BatchNorm's running statistics, its
    ``num_batches_tracked``) are not parameters and do not count.

    Returns:
        ``(trainable, total)``, two Python ints: the elements of the parameters with
        ``requires_grad=True``, and of all parameters.

    """
    params = list(model.parameters())  # each shared parameter once
    trainable = sum(p.numel() for p in params if p.requires_grad)
    total = sum(p.numel() for p in params)
    return trainable, total


def make_optimizer(
    model: nn.Module, lr: float = 0.01, momentum: float = 0.9, weight_decay: float = 0.0
) -> torch.optim.SGD:
    """An SGD optimizer over the trainable parameters of ``model`` only.

    One parameter group holding exactly the parameters with ``requires_grad=True`` at the
    time of the call (each once), with ``lr``, ``momentum`` and ``weight_decay`` as given
    and SGD's other defaults (no dampening, no Nesterov).

    A frozen parameter must not be in any group: one that still carries a ``.grad`` (a
    stale one from before it was frozen, or zeros from ``zero_grad(set_to_none=False)``)
    would still be moved by momentum and weight decay at every ``step()``.

    Raises:
        ValueError: no parameter is trainable (``torch.optim``'s own error will do).

    """
    trainable = [p for p in model.parameters() if p.requires_grad]
    return torch.optim.SGD(trainable, lr=lr, momentum=momentum, weight_decay=weight_decay)
