"""Known mistake: channel_stats reshapes x to (C, -1) without moving the channels first, mixing channels.

Expect: the mean has wrong values
"""

from __future__ import annotations

import torch


def channel_stats(x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    flat = x.reshape(x.shape[1], -1)
    return flat.mean(dim=1), flat.std(dim=1, correction=0)
