"""Known mistake: RandomResizedCrop keeps its default scale=(0.08, 1.0), zooming in too far.

Expect: expected at least half
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torchvision.transforms import v2


def make_train_transform(
    mean: Sequence[float] | torch.Tensor, std: Sequence[float] | torch.Tensor, *, size: int
) -> v2.Compose:
    return v2.Compose(
        [
            v2.RandomResizedCrop(size, antialias=True),
            v2.RandomHorizontalFlip(p=0.5),
            v2.ToDtype(torch.float32, scale=True),
            v2.Normalize(mean=_floats(mean), std=_floats(std)),
        ]
    )
