"""Known mistake: the images are normalised with ImageNet's mean and std instead of the backbone's.

Expect: ImageNet's mean and std
"""

from __future__ import annotations

import torch
from torchvision.transforms import v2

from pytorch_path.data import BACKBONE_SIZE


def backbone_transform() -> v2.Compose:
    return v2.Compose(
        [
            v2.Grayscale(num_output_channels=1),
            v2.ToImage(),
            v2.ToDtype(torch.float32, scale=True),
            v2.Resize((BACKBONE_SIZE, BACKBONE_SIZE), antialias=False),
            v2.RGB(),
            v2.Normalize(mean=[0.485, 0.456, 0.406], std=[0.229, 0.224, 0.225]),
        ]
    )
