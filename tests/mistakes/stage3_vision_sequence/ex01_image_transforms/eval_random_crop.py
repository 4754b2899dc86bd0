"""Known mistake: the eval pipeline uses RandomResizedCrop, as the train pipeline does.

Expect: deterministic
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
            v2.RandomResizedCrop(size, scale=(0.5, 1.0), antialias=True),
            v2.ToDtype(torch.float32, scale=True),
            v2.Normalize(mean=_floats(mean), std=_floats(std)),
        ]
    )
