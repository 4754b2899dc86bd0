"""Known mistake: split_heads transposes dims 1 and 3 instead of 1 and 2.

Expect: check permute/transpose
"""

from __future__ import annotations

import torch


def split_heads(x: torch.Tensor, num_heads: int) -> torch.Tensor:
    b, t, d = x.shape
    return x.view(b, t, num_heads, d // num_heads).transpose(1, 3)
