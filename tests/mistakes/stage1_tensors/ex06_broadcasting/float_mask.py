"""Known mistake: causal_mask returns a float 0/1 mask instead of a bool mask.

Expect: dtype
"""

from __future__ import annotations

import torch


def causal_mask(t: int, device: str | torch.device) -> torch.Tensor:
    ones = torch.ones(t, t, dtype=torch.bool, device=device)
    return torch.triu(ones, diagonal=1).float()
