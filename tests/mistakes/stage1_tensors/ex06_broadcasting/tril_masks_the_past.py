"""Known mistake: causal_mask uses tril, so it hides the past instead of the future.

Expect: in the future and must be hidden
"""

from __future__ import annotations

import torch


def causal_mask(t: int, device: str | torch.device) -> torch.Tensor:
    ones = torch.ones(t, t, dtype=torch.bool, device=device)
    return torch.tril(ones, diagonal=-1)
