"""Known mistake: a prefix is looked for anywhere in the name (`prefix in name`).

Expect: a prefix matches from the start of the name
"""

from __future__ import annotations

from collections.abc import Iterable

from torch import nn


def freeze_all_but(model: nn.Module, trainable: str | Iterable[str] = ("fc",)) -> nn.Module:
    prefixes = (trainable,) if isinstance(trainable, str) else tuple(trainable)
    named = list(model.named_parameters())
    for prefix in prefixes:
        if not any(prefix in name for name, _ in named):
            raise ValueError(f"the prefix {prefix!r} matches no parameter of the model")
    for name, param in named:
        param.requires_grad_(any(prefix in name for prefix in prefixes))
    return model
