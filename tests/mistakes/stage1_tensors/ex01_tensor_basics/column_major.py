"""Known mistake: arange_grid lays the numbers out column by column.

Expect: wrong values
"""

from __future__ import annotations

import torch


def arange_grid(rows: int, cols: int, *, dtype: torch.dtype, device: str | torch.device) -> torch.Tensor:
    return torch.arange(rows * cols, dtype=dtype, device=device).reshape(cols, rows).T
