"""Known mistake: upsample_cam interpolates with align_corners=True.

Expect: align_corners=True
"""

from __future__ import annotations

import torch
from torch.nn import functional as F


def upsample_cam(cam: torch.Tensor, size: tuple[int, int]) -> torch.Tensor:
    resized = F.interpolate(
        cam.unsqueeze(1), size=tuple(size), mode="bilinear", align_corners=True
    )
    return resized.squeeze(1)
