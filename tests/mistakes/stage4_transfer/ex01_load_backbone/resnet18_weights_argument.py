"""Known mistake: resnet18(weights=ResNet18_Weights.IMAGENET1K_V1), which downloads when it can.

Expect: no download is allowed
"""

from __future__ import annotations

import os

import torch
import torchvision
from torch import nn


def load_torchvision_resnet18(hub_dir: str | os.PathLike[str] | None = None) -> nn.Module:
    if hub_dir is not None:
        torch.hub.set_dir(str(hub_dir))
    weights = torchvision.models.ResNet18_Weights.IMAGENET1K_V1
    return torchvision.models.resnet18(weights=weights).eval()
