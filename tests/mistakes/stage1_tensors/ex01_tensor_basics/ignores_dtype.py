"""Known mistake: arange_grid ignores the dtype argument (always float32).

Expect: dtype
"""

from __future__ import annotations

import torch


def arange_grid(rows: int, cols: int, *, dtype: torch.dtype, device: str | torch.device) -> torch.Tensor:
    return torch.arange(rows * cols, dtype=torch.float32, device=device).reshape(rows, cols)
