"""Known mistake: the eval resize turns antialiasing off, so shrinking an image aliases.

Expect: does not antialias
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
            v2.Resize(size, antialias=False),
            v2.CenterCrop(size),
            v2.ToDtype(torch.float32, scale=True),
            v2.Normalize(mean=_floats(mean), std=_floats(std)),
        ]
    )
