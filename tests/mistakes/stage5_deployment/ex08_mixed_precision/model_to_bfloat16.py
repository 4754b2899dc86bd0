"""Known mistake: autocast_forward casts the model and the input to bfloat16 instead of using autocast.

Expect: never cast the model
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
    return model.to(dtype)(x.to(dtype))
