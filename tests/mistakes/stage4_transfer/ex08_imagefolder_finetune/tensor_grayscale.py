"""Known mistake: v2.Grayscale runs on the uint8 tensor (after v2.ToImage), which rounds the grey level down.

Expect: before v2.ToImage()
"""

from __future__ import annotations

import torch
from torchvision.transforms import v2

from pytorch_path.data import BACKBONE_MEAN, BACKBONE_SIZE, BACKBONE_STD


def backbone_transform() -> v2.Compose:
    return v2.Compose(
        [
            v2.ToImage(),
            v2.Grayscale(num_output_channels=1),
            v2.ToDtype(torch.float32, scale=True),
            v2.Resize((BACKBONE_SIZE, BACKBONE_SIZE), antialias=False),
            v2.RGB(),
            v2.Normalize(mean=list(BACKBONE_MEAN), std=list(BACKBONE_STD)),
        ]
    )
