"""Known mistake: name.startswith(prefix) without the dot, so "fc" also matches fcx.weight.

Expect: not a whole name component
"""

from __future__ import annotations

from collections.abc import Iterable

from torch import nn


def freeze_all_but(model: nn.Module, trainable: str | Iterable[str] = ("fc",)) -> nn.Module:
    prefixes = (trainable,) if isinstance(trainable, str) else tuple(trainable)
    named = list(model.named_parameters())
    for prefix in prefixes:
        if not any(name.startswith(prefix) for name, _ in named):
            raise ValueError(f"the prefix {prefix!r} matches no parameter of the model")
    for name, param in named:
        param.requires_grad_(name.startswith(prefixes))
    return model
