"""Known mistake: merge_heads reshapes (B, H, T, Dh) to (B, T, H * Dh) without moving T in front of H.

Expect: without first moving T
"""

from __future__ import annotations

import torch


def merge_heads(x: torch.Tensor) -> torch.Tensor:
    b, h, t, dh = x.shape
    return x.reshape(b, t, h * dh)
