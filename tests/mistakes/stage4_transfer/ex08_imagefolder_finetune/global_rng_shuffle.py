"""Known mistake: the train loader shuffles from torch's global RNG (torch.manual_seed) instead of its own seeded generator.

Expect: torch's global RNG
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
    torch.manual_seed(seed)
    train_loader = DataLoader(train_set, batch_size=batch_size, shuffle=True)
    val_loader = DataLoader(val_set, batch_size=batch_size, shuffle=False)
    return train_loader, val_loader, dict(train_set.class_to_idx)
