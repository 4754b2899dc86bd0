"""Known mistake: the deprecated torch.cuda.amp / torch.cpu.amp autocast instead of torch.autocast.

Expect: torch.amp
Expect: deprecated
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
    legacy = torch.cpu.amp.autocast if device_type == "cpu" else torch.cuda.amp.autocast
    with legacy(dtype=dtype):
        return model(x)
