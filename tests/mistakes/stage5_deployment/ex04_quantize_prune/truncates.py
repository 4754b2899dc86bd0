"""Known mistake: w / scale is cast to int8 without rounding, which truncates toward zero.

Expect: truncated toward zero
"""

from __future__ import annotations

import torch


def quantize_per_channel(weight: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    with torch.no_grad():
        w = weight.detach().float()
        amax = w.abs().reshape(w.shape[0], -1).amax(dim=1)
        scale = torch.where(amax > 0, amax / 127, torch.ones_like(amax))
        q = (w / scale.reshape(-1, *([1] * (w.dim() - 1)))).clamp(-127, 127).to(torch.int8)
    return q, scale
