"""Known mistake: the scale is clamped to a tiny epsilon instead of giving an all-zero channel 1.0.

Expect: exactly scale 1.0
"""

from __future__ import annotations

import torch


def quantize_per_channel(weight: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    with torch.no_grad():
        w = weight.detach().float()
        scale = (w.abs().reshape(w.shape[0], -1).amax(dim=1) / 127).clamp_min(1e-8)
        q = torch.round(w / scale.reshape(-1, *([1] * (w.dim() - 1)))).clamp(-127, 127)
    return q.to(torch.int8), scale
