"""Known mistake: only a tuple counts as prefixes, so a list is taken for one prefix.

Expect: trainable may be a list as well as a tuple
"""

from __future__ import annotations

from collections.abc import Iterable

from torch import nn


def freeze_all_but(model: nn.Module, trainable: str | Iterable[str] = ("fc",)) -> nn.Module:
    prefixes = trainable if isinstance(trainable, tuple) else (trainable,)
    named = list(model.named_parameters())

    def matches(name: str, prefix: str) -> bool:
        return name == prefix or name.startswith(prefix + ".")

    for prefix in prefixes:
        if not any(matches(name, prefix) for name, _ in named):
            raise ValueError(f"the prefix {prefix!r} matches no parameter of the model")
    for name, param in named:
        param.requires_grad_(any(matches(name, prefix) for prefix in prefixes))
    return model
