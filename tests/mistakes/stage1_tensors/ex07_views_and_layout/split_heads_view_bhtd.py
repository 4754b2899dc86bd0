"""Known mistake: split_heads views x as (B, H, T, Dh) directly, scrambling positions and features.

Expect: x.view(B, H, T, Dh)
"""

from __future__ import annotations

import torch


def split_heads(x: torch.Tensor, num_heads: int) -> torch.Tensor:
    b, t, d = x.shape
    return x.view(b, num_heads, t, d // num_heads)
