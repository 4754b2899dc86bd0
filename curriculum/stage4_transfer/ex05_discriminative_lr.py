"""4.5 Discriminative learning rates with parameter groups.

Write layerwise_lrs, param_groups and make_scheduler below, then run ``make check ex=4.5``.
The lesson is in README.md next to this file.
"""

from __future__ import annotations

import math  # noqa: F401  (math.cos, math.pi)
from collections.abc import Mapping, Sequence
from typing import Any

import torch
from torch import nn
from torch.optim.lr_scheduler import LambdaLR

#: The backbone's parts from the head down to the input, as ``layerwise_lrs`` names them.
DEFAULT_NAMES: tuple[str, ...] = ("fc", "layer4", "layer3", "layer2", "layer1", "stem")
#: ``param_groups``' aliases when none are given: "stem" is ResNet's conv1 and bn1.
DEFAULT_ALIASES: Mapping[str, tuple[str, ...]] = {"stem": ("conv1", "bn1")}


def layerwise_lrs(
    base_lr: float, decay: float, names: Sequence[str] = DEFAULT_NAMES
) -> dict[str, float]:
    """Learning rates that shrink layer by layer from the head down: ``base_lr * decay**i``.

    ``names[0]`` (the head, by default ``"fc"``) gets ``base_lr``, ``names[1]`` gets
    ``base_lr * decay``, ``names[i]`` gets ``base_lr * decay**i``: the layers nearest the
    input, which hold the most general features, move the least.

    Args:
        base_lr: the head's learning rate; must be ``> 0``.
        decay: the factor from one name to the next; must satisfy ``0 < decay <= 1``
            (``decay = 1`` gives every name ``base_lr``).
        names: the parts, head first: a sequence of at least one distinct string.
            Default :data:`DEFAULT_NAMES`, ``("fc", "layer4", "layer3", "layer2",
            "layer1", "stem")``.

    Returns:
        A new ``dict`` mapping each name, in the order of ``names``, to its learning rate,
        a Python ``float`` (equal to ``base_lr * decay**i`` up to rounding, so computing it
        step by step, ``lr *= decay``, is fine).

    Raises:
        ValueError: ``base_lr <= 0``; ``decay <= 0`` or ``decay > 1``; ``names`` empty
            or holding a name twice.
    """
    # TODO(4.5): validate, then {names[i]: base_lr * decay**i}.
    raise NotImplementedError("4.5: layerwise_lrs")


def param_groups(
    model: nn.Module,
    lrs: Mapping[str, float],
    *,
    aliases: Mapping[str, Sequence[str]] | None = None,
) -> list[dict[str, Any]]:
    """One optimizer parameter group per key of ``lrs``, for ``torch.optim.AdamW(groups)``.

    A key *matches* a parameter when the parameter's dotted name (as
    ``model.named_parameters()`` gives it) starts with the key, or with one of the key's
    aliases, as whole name components: the key ``"layer1"`` matches ``"layer1.0.conv1.weight"``
    but not ``"layer10.weight"``; ``"layer4.0.conv1"`` matches ``"layer4.0.conv1.weight"``; a
    key also matches a parameter with exactly its name (``"fc.bias"``). In code: ``name ==
    prefix or name.startswith(prefix + ".")`` for the key itself and each of its aliases.

    Only trainable parameters (``requires_grad=True``) are placed; frozen ones are left
    out of every group (and do not count as matched). Each trainable parameter must be
    matched by exactly one key.

    Args:
        model: the network; not modified (no ``requires_grad`` flag changes).
        lrs: the learning rate of each group, e.g. :func:`layerwise_lrs`' result; the
            groups come in the order of its keys.
        aliases: more prefixes for some keys: ``{key: (prefix, ...)}``. ``None`` (the
            default) means :data:`DEFAULT_ALIASES`, ``{"stem": ("conv1", "bn1")}``, so the
            key ``"stem"`` covers ResNet's first conv and BatchNorm. A mapping given here
            replaces the default entirely (``aliases={}``: no aliases at all). Aliases of
            keys that are not in ``lrs`` are ignored.

    Returns:
        A new list with one dict per key of ``lrs``, in that order, each with exactly the
        keys ``{"params": [...], "lr": lrs[key], "name": key}``; ``"params"`` is a list of
        the matched parameters themselves (the model's ``nn.Parameter`` objects, not
        copies), in ``model.named_parameters()`` order. The optimizer fills in the other
        settings (betas, weight decay) from its defaults.

    Raises:
        ValueError: a trainable parameter matched by no key (the message names the
            parameter); a trainable parameter matched by two or more keys (the message
            names the parameter and the keys); a key that matches no trainable parameter
            (the message names the key).
    """
    # TODO(4.5): match each trainable parameter to exactly one key; one group per key.
    raise NotImplementedError("4.5: param_groups")


def make_scheduler(
    optimizer: torch.optim.Optimizer, total_steps: int, warmup_steps: int = 0
) -> LambdaLR:
    """A ``LambdaLR`` with linear warmup then cosine decay, one multiplier for every group.

    ``LambdaLR`` multiplies each group's own initial learning rate (``group["lr"]`` when the
    scheduler is built, kept as ``group["initial_lr"]``) by the same factor ``m(s)``, so
    the ratios between the groups' learning rates never change. With ``s`` the number of
    ``scheduler.step()`` calls so far (0 right after building it), ``W = warmup_steps`` and
    ``T = total_steps``:

    - warmup, ``s < W``: ``m(s) = s / W`` (0 at the first step, then linear);
    - decay, ``W <= s <= T``: ``m(s) = 0.5 * (1 + cos(pi * (s - W) / (T - W)))``, so
      ``m(W) = 1`` and ``m(T) = 0``;
    - after the end, ``s > T``: ``m(s) = 0``.

    With ``W = 0`` there is no warmup: ``m(0) = 1``. (This is the schedule of
    ``transformers.get_cosine_schedule_with_warmup``, held at 0 after the end.) Call
    ``optimizer.step()`` and then ``scheduler.step()`` once per batch.

    Args:
        optimizer: a freshly built optimizer whose groups hold their peak learning rates.
        total_steps: the number of training steps ``T``, an ``int >= 1``.
        warmup_steps: the warmup length ``W``, an ``int`` with ``0 <= W < T``; default 0.

    Returns:
        A ``torch.optim.lr_scheduler.LambdaLR`` (an instance of it) on ``optimizer``.

    Raises:
        ValueError: ``total_steps < 1``; ``warmup_steps < 0``; ``warmup_steps >= total_steps``.
    """
    # TODO(4.5): validate, then LambdaLR(optimizer, m) with warmup s / W and cosine decay.
    raise NotImplementedError("4.5: make_scheduler")
