"""Known mistake: channel_stats uses the unbiased (n - 1) std.

Expect: correction=0
"""

from __future__ import annotations

import torch


def channel_stats(images: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    x = images if images.is_floating_point() else images.to(torch.float32) / 255
    return x.mean(dim=(0, 2, 3)), x.std(dim=(0, 2, 3))
