"""Known mistake: sinusoidal_positions defaults to float64 ("more precise") instead of float32.

Expect: with dtype left out it is torch.float32
"""

from __future__ import annotations

import math

import torch


def sinusoidal_positions(
    T: int,
    d: int,
    *,
    device: torch.device | str | None = None,
    dtype: torch.dtype = torch.float64,
) -> torch.Tensor:
    pos = torch.arange(T, device=device, dtype=dtype).unsqueeze(1)
    two_i = torch.arange(0, d, 2, device=device, dtype=dtype)
    freq = torch.exp(two_i * (-math.log(10000.0) / d))
    angles = pos * freq
    table = torch.empty(T, d, device=device, dtype=dtype)
    table[:, 0::2] = torch.sin(angles)
    table[:, 1::2] = torch.cos(angles)
    return table
