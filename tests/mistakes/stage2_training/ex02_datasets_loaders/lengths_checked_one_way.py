"""Known mistake: TensorPairDataset only rejects labels longer than the features; more features than labels slip through.

Expect: expected valueerror to be raised
Expect: (more features than labels)
"""

from __future__ import annotations

from collections.abc import Callable

import torch
from torch.utils.data import Dataset


class TensorPairDataset(Dataset):
    def __init__(
        self,
        features: torch.Tensor,
        labels: torch.Tensor,
        transform: Callable[[torch.Tensor], torch.Tensor] | None = None,
    ) -> None:
        if features.shape[0] < labels.shape[0]:
            raise ValueError(
                f"features and labels differ in length: {features.shape[0]} != {labels.shape[0]}"
            )
        self.features = features
        self.labels = labels
        self.transform = transform

    def __len__(self) -> int:
        return self.features.shape[0]

    def __getitem__(self, index: int) -> tuple[torch.Tensor, torch.Tensor]:
        x = self.features[index]
        if self.transform is not None:
            x = self.transform(x)
        return x, self.labels[index]
