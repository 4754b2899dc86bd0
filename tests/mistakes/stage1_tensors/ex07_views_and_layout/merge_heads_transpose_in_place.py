"""Known mistake: merge_heads uses transpose_, changing its input in place.

Expect: changed its input x in place
"""

from __future__ import annotations

import torch


def merge_heads(x: torch.Tensor) -> torch.Tensor:
    b, h, t, dh = x.shape
    return x.transpose_(1, 2).reshape(b, t, h * dh)
