"""Known mistake: ema_update replaces target's parameters with new nn.Parameter objects.

Expect: same Parameter object
"""

from __future__ import annotations

from torch import nn


def ema_update(target: nn.Module, source: nn.Module, decay: float) -> None:
    sources = dict(source.named_parameters())
    for name, target_p in list(target.named_parameters()):
        owner_name, _, attr = name.rpartition(".")
        owner = target.get_submodule(owner_name)
        new = decay * target_p.detach() + (1 - decay) * sources[name].detach()
        setattr(owner, attr, nn.Parameter(new))
