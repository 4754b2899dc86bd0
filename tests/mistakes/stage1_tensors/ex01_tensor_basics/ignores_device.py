"""Known mistake: arange_grid ignores the device argument (the grid is always made on the CPU).

On a CPU-only machine this looks right; on a GPU the caller gets a CPU tensor back.

Expect: not on the device it was given
"""

from __future__ import annotations

import torch


def arange_grid(rows: int, cols: int, *, dtype: torch.dtype, device: str | torch.device) -> torch.Tensor:
    return torch.arange(rows * cols, dtype=dtype).reshape(rows, cols)
