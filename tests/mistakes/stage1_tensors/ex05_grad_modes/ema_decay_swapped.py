"""Known mistake: ema_update swaps decay and 1 - decay.

Expect: wrong values
"""

from __future__ import annotations

import torch
from torch import nn


def ema_update(target: nn.Module, source: nn.Module, decay: float) -> None:
    with torch.no_grad():
        for target_p, source_p in zip(target.parameters(), source.parameters(), strict=True):
            target_p.mul_(1 - decay).add_(source_p, alpha=decay)
