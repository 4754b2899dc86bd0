"""Known mistake: the eval pipeline keeps the random horizontal flip of the train pipeline.

Expect: deterministic
Expect: augmentation belongs
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torchvision.transforms import v2


def make_eval_transform(
    mean: Sequence[float] | torch.Tensor, std: Sequence[float] | torch.Tensor, *, size: int
) -> v2.Compose:
    return v2.Compose(
        [
            v2.Resize(size, antialias=True),
            v2.CenterCrop(size),
            v2.RandomHorizontalFlip(p=0.5),
            v2.ToDtype(torch.float32, scale=True),
            v2.Normalize(mean=_floats(mean), std=_floats(std)),
        ]
    )
