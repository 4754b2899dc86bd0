"""Known mistake: a prefix that matches nothing (a typo such as "layer5") is silently accepted.

Expect: expected ValueError
"""

from __future__ import annotations

from collections.abc import Iterable

from torch import nn


def freeze_all_but(model: nn.Module, trainable: str | Iterable[str] = ("fc",)) -> nn.Module:
    prefixes = (trainable,) if isinstance(trainable, str) else tuple(trainable)
    for name, param in model.named_parameters():
        param.requires_grad_(any(name == p or name.startswith(p + ".") for p in prefixes))
    return model
