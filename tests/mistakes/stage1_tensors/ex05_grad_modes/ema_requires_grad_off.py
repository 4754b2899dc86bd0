"""Known mistake: ema_update switches requires_grad off on target's parameters to allow the in-place update.

Expect: requires_grad is False
"""

from __future__ import annotations

from torch import nn


def ema_update(target: nn.Module, source: nn.Module, decay: float) -> None:
    for target_p, source_p in zip(target.parameters(), source.parameters(), strict=True):
        target_p.requires_grad_(False)
        target_p.mul_(decay).add_(source_p.detach(), alpha=1 - decay)
