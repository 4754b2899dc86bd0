"""Known mistake: ema_update updates the parameters in place without torch.no_grad().

Expect: torch.no_grad()
"""

from __future__ import annotations

from torch import nn


def ema_update(target: nn.Module, source: nn.Module, decay: float) -> None:
    for target_p, source_p in zip(target.parameters(), source.parameters(), strict=True):
        target_p.mul_(decay).add_(source_p, alpha=1 - decay)
