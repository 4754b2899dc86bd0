"""Known mistake: ema_update returns the target model instead of None.

The update itself is right; but the contract returns None, the way PyTorch's in-place
helpers do, so that nobody mistakes the result for a new, averaged copy.

Expect: returned a torch.nn.modules.container.sequential, expected none
"""

from __future__ import annotations

import torch
from torch import nn


def ema_update(target: nn.Module, source: nn.Module, decay: float) -> nn.Module:
    with torch.no_grad():
        for target_p, source_p in zip(target.parameters(), source.parameters(), strict=True):
            target_p.mul_(decay).add_(source_p, alpha=1 - decay)
    return target
