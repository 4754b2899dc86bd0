"""Known mistake: the resnet18 file is loaded without map_location, so a GPU checkpoint fails here.

Expect: map_location='cpu'
"""

from __future__ import annotations

import os
from pathlib import Path

import torch
import torchvision
from torch import nn


def load_torchvision_resnet18(hub_dir: str | os.PathLike[str] | None = None) -> nn.Module:
    folder = Path(torch.hub.get_dir() if hub_dir is None else hub_dir) / "checkpoints"
    name = Path(torchvision.models.ResNet18_Weights.IMAGENET1K_V1.url).name
    file = folder / name
    if not file.is_file():
        raise FileNotFoundError(f"{name} is not in {folder}")
    model = torchvision.models.resnet18(weights=None)
    model.load_state_dict(torch.load(file, weights_only=True), strict=True)
    return model.eval()
