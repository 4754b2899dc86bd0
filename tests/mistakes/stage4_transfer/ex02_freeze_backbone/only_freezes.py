"""Known mistake: only sets requires_grad=False on the others, never True on the matches.

Expect: set requires_grad=True on every match
"""

from __future__ import annotations

from collections.abc import Iterable

from torch import nn


def freeze_all_but(model: nn.Module, trainable: str | Iterable[str] = ("fc",)) -> nn.Module:
    prefixes = (trainable,) if isinstance(trainable, str) else tuple(trainable)
    named = list(model.named_parameters())

    def matches(name: str, prefix: str) -> bool:
        return name == prefix or name.startswith(prefix + ".")

    for prefix in prefixes:
        if not any(matches(name, prefix) for name, _ in named):
            raise ValueError(f"the prefix {prefix!r} matches no parameter of the model")
    for name, param in named:
        if not any(matches(name, prefix) for prefix in prefixes):
            param.requires_grad = False
    return model
