"""Known mistake: channel_stats leaves uint8 images on the 0..255 scale.

Expect: 0..255 scale
Expect: divide uint8 images by 255
"""

from __future__ import annotations

import torch


def channel_stats(images: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    x = images.float() if not images.is_floating_point() else images
    return x.mean(dim=(0, 2, 3)), x.std(dim=(0, 2, 3), correction=0)
