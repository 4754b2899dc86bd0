"""Known mistake: the scale is max|w[c]| / 128, as if the symmetric range reached -128..128.

Expect: divide by 127
"""

from __future__ import annotations

import torch


def quantize_per_channel(weight: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    with torch.no_grad():
        w = weight.detach().float()
        amax = w.abs().reshape(w.shape[0], -1).amax(dim=1)
        scale = torch.where(amax > 0, amax / 128, torch.ones_like(amax))
        q = torch.round(w / scale.reshape(-1, *([1] * (w.dim() - 1)))).clamp(-127, 127)
    return q.to(torch.int8), scale
