"""Known mistake: split_heads splits D as (Dh, H) instead of (H, Dh), interleaving the heads.

Expect: split D as (Dh, H)
"""

from __future__ import annotations

import torch


def split_heads(x: torch.Tensor, num_heads: int) -> torch.Tensor:
    b, t, d = x.shape
    return x.view(b, t, d // num_heads, num_heads).permute(0, 3, 1, 2)
