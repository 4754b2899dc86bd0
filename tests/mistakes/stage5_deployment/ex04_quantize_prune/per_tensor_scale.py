"""Known mistake: one scale for the whole tensor (max over all of w) instead of one per output channel.

Expect: one scale for the whole tensor
"""

from __future__ import annotations

import torch


def quantize_per_channel(weight: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    with torch.no_grad():
        w = weight.detach().float()
        amax = w.abs().max()
        s = amax / 127 if amax > 0 else torch.ones(())
        scale = s.expand(w.shape[0]).clone()
        q = torch.round(w / s).clamp(-127, 127).to(torch.int8)
    return q, scale
