"""Known mistake: float16 is the default low precision on every device, the CPU included.

Expect: default dtype is torch.bfloat16
"""

from __future__ import annotations

import torch


def _default_dtype(device_type: str) -> torch.dtype:
    return torch.float16
