"""Known mistake: dequantize multiplies q * scale directly, which broadcasts the scale over the last dim.

Expect: you scaled the columns
"""

from __future__ import annotations

import torch


def dequantize(q: torch.Tensor, scale: torch.Tensor) -> torch.Tensor:
    return q.to(torch.float32) * scale
