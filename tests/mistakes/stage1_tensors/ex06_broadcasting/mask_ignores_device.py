"""Known mistake: causal_mask ignores its device argument and builds the mask on the cpu.

Expect: not on the device it was given
"""

from __future__ import annotations

import torch


def causal_mask(t: int, device: str | torch.device) -> torch.Tensor:
    ones = torch.ones(t, t, dtype=torch.bool)
    return torch.triu(ones, diagonal=1)
