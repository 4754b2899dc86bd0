"""Known mistake: the flags are changed prefix by prefix, and the ValueError comes halfway through.

Expect: only after changing requires_grad
"""

from __future__ import annotations

from collections.abc import Iterable

from torch import nn


def freeze_all_but(model: nn.Module, trainable: str | Iterable[str] = ("fc",)) -> nn.Module:
    prefixes = (trainable,) if isinstance(trainable, str) else tuple(trainable)
    model.requires_grad_(False)
    for prefix in prefixes:
        found = False
        for name, param in model.named_parameters():
            if name == prefix or name.startswith(prefix + "."):
                param.requires_grad_(True)
                found = True
        if not found:
            raise ValueError(f"the prefix {prefix!r} matches no parameter of the model")
    return model
