"""Known mistake: the val loader shuffles too, so its order changes from pass to pass.

Expect: shuffle=False
"""

from __future__ import annotations

import os
from pathlib import Path

import torch
from torch.utils.data import DataLoader
from torchvision import datasets


def make_loaders(
    root: str | os.PathLike[str], *, batch_size: int = 32, seed: int = 0
) -> tuple[DataLoader, DataLoader, dict[str, int]]:
    root = Path(root)
    transform = backbone_transform()
    train_set = datasets.ImageFolder(root / "train", transform=transform)
    val_set = datasets.ImageFolder(root / "val", transform=transform)
    if train_set.class_to_idx != val_set.class_to_idx:
        raise ValueError("the class folders differ")
    generator = torch.Generator().manual_seed(seed)
    train_loader = DataLoader(train_set, batch_size=batch_size, shuffle=True, generator=generator)
    val_loader = DataLoader(val_set, batch_size=batch_size, shuffle=True, generator=generator)
    return train_loader, val_loader, dict(train_set.class_to_idx)
