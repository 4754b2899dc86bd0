"""Known mistake: the position table is always computed in float32 and cast to the requested dtype at the end.

Expect: float32 precision
"""

from __future__ import annotations

import math

import torch


def sinusoidal_positions(
    T: int,
    d: int,
    *,
    device: torch.device | str | None = None,
    dtype: torch.dtype = torch.float32,
) -> torch.Tensor:
    out_dtype, dtype = dtype, torch.float32
    pos = torch.arange(T, device=device, dtype=dtype).unsqueeze(1)
    two_i = torch.arange(0, d, 2, device=device, dtype=dtype)
    freq = torch.exp(two_i * (-math.log(10000.0) / d))
    angles = pos * freq
    table = torch.empty(T, d, device=device, dtype=dtype)
    table[:, 0::2] = torch.sin(angles)
    table[:, 1::2] = torch.cos(angles)
    return table.to(out_dtype)
