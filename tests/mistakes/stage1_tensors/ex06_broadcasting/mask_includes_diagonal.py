"""Known mistake: causal_mask also masks the diagonal (triu with diagonal=0).

Expect: the diagonal is the present
"""

from __future__ import annotations

import torch


def causal_mask(t: int, device: str | torch.device) -> torch.Tensor:
    ones = torch.ones(t, t, dtype=torch.bool, device=device)
    return torch.triu(ones)
