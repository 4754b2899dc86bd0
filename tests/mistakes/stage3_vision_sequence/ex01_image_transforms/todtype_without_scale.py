"""Known mistake: ToDtype(torch.float32) without scale=True, so uint8 images reach Normalize as 0..255.

Expect: not scaled to [0, 1]
Expect: scale=True
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
            v2.RandomResizedCrop(size, scale=(0.5, 1.0), antialias=True),
            v2.RandomHorizontalFlip(p=0.5),
            v2.ToDtype(torch.float32),
            v2.Normalize(mean=_floats(mean), std=_floats(std)),
        ]
    )


def make_eval_transform(
    mean: Sequence[float] | torch.Tensor, std: Sequence[float] | torch.Tensor, *, size: int
) -> v2.Compose:
    return v2.Compose(
        [
            v2.Resize(size, antialias=True),
            v2.CenterCrop(size),
            v2.ToDtype(torch.float32),
            v2.Normalize(mean=_floats(mean), std=_floats(std)),
        ]
    )
