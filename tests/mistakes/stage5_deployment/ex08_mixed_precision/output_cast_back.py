"""Known mistake: autocast_forward casts the output back to float32 with .float().

Expect: cast back
"""

from __future__ import annotations

import torch
from torch import nn


def autocast_forward(
    model: nn.Module,
    x: torch.Tensor,
    *,
    device_type: str | None = None,
    dtype: torch.dtype | None = None,
) -> torch.Tensor:
    device_type = device_type or x.device.type
    dtype = dtype or _default_dtype(device_type)
    with torch.autocast(device_type=device_type, dtype=dtype):
        return model(x).float()
