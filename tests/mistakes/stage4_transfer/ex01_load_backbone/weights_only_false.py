"""Known mistake: torch.load(..., weights_only=False), which unpickles (and runs) anything.

Expect: the code in the file ran
Expect: weights_only=True
"""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

import torch
import torchvision
from torch import nn

from pytorch_path import data


def load_backbone(
    path: str | os.PathLike[str] | None = None, *, expected_sha256: str | None = None
) -> nn.Module:
    file = Path(data.data_dir() / data.BACKBONE_FILE if path is None else path)
    if not file.is_file():
        raise FileNotFoundError(f"no checkpoint at {file}")
    want = (expected_sha256 or data.expected_sha256(data.BACKBONE_FILE)).lower()
    got = hashlib.sha256(file.read_bytes()).hexdigest()
    if got != want:
        raise ValueError(f"{file} failed its checksum: expected sha256 {want}, got {got}")
    state = torch.load(file, map_location="cpu", weights_only=False)
    model = data.make_backbone()
    model.load_state_dict(state, strict=True)
    return model.eval()


def load_torchvision_resnet18(hub_dir: str | os.PathLike[str] | None = None) -> nn.Module:
    folder = Path(torch.hub.get_dir() if hub_dir is None else hub_dir) / "checkpoints"
    name = Path(torchvision.models.ResNet18_Weights.IMAGENET1K_V1.url).name
    file = folder / name
    if not file.is_file():
        raise FileNotFoundError(f"{name} is not in {folder}")
    model = torchvision.models.resnet18(weights=None)
    model.load_state_dict(torch.load(file, map_location="cpu", weights_only=False))
    return model.eval()
