"""Known mistake: rounding with floor(x + 0.5), which sends every half up instead of to even.

Expect: rounds every half up
Expect: half to even
"""

from __future__ import annotations

import torch


def quantize_per_channel(weight: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    with torch.no_grad():
        w = weight.detach().float()
        amax = w.abs().reshape(w.shape[0], -1).amax(dim=1)
        scale = torch.where(amax > 0, amax / 127, torch.ones_like(amax))
        ratio = w / scale.reshape(-1, *([1] * (w.dim() - 1)))
        q = torch.floor(ratio + 0.5).clamp(-127, 127)
    return q.to(torch.int8), scale
