"""Known mistake: the transform is applied once to the whole features tensor in __init__ instead of to each item as it is read.

Expect: __init__
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import torch
from torch.utils.data import DataLoader, Dataset, Subset, random_split


class TensorPairDataset(Dataset):
    def __init__(
        self,
        features: torch.Tensor,
        labels: torch.Tensor,
        transform: Callable[[torch.Tensor], torch.Tensor] | None = None,
    ) -> None:
        if features.shape[0] != labels.shape[0]:
            raise ValueError(
                f"features and labels differ in length: {features.shape[0]} != {labels.shape[0]}"
            )
        self.features = transform(features) if transform is not None else features
        self.labels = labels
        self.transform = transform

    def __len__(self) -> int:
        return self.features.shape[0]

    def __getitem__(self, index: int) -> tuple[torch.Tensor, torch.Tensor]:
        x = self.features[index]
        return x, self.labels[index]
