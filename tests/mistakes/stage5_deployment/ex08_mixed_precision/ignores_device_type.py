"""Known mistake: autocast_forward always opens the region for x.device.type and ignores device_type.

Expect: open the region for the device_type argument
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
    kind = x.device.type
    dtype = dtype or _default_dtype(device_type or kind)
    with torch.autocast(device_type=kind, dtype=dtype):
        return model(x)
