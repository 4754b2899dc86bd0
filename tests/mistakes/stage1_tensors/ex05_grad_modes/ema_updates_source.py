"""Known mistake: ema_update mixes up the pair and updates source instead of target.

Expect: source
"""

from __future__ import annotations

import torch
from torch import nn


def ema_update(target: nn.Module, source: nn.Module, decay: float) -> None:
    with torch.no_grad():
        for target_p, source_p in zip(source.parameters(), target.parameters(), strict=True):
            target_p.mul_(decay).add_(source_p, alpha=1 - decay)
