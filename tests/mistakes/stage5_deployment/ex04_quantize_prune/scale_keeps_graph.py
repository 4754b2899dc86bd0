"""Known mistake: the scale is computed from the Parameter itself, so it drags an autograd graph along.

Expect: still tracks gradients
"""

from __future__ import annotations

import torch


def quantize_per_channel(weight: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    amax = weight.abs().reshape(weight.shape[0], -1).amax(dim=1)
    scale = torch.where(amax > 0, amax / 127, torch.ones_like(amax))
    q = torch.round(weight / scale.reshape(-1, *([1] * (weight.dim() - 1)))).clamp(-127, 127)
    return q.to(torch.int8), scale
