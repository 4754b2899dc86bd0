"""Known mistake: merge_heads calls view after the transpose; on a contiguous input (like attn @ v) the transposed tensor is non-contiguous and view fails.

Expect: view size is not compatible
Expect: merge_heads
"""

from __future__ import annotations

import torch


def merge_heads(x: torch.Tensor) -> torch.Tensor:
    b, h, t, dh = x.shape
    return x.transpose(1, 2).view(b, t, h * dh)
