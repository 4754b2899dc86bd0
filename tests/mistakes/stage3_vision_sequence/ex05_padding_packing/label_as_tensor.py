"""Known mistake: __getitem__ returns the label as a 0-dim tensor (labels[index]) instead of a Python int.

Expect: Python int
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch.utils.data import Dataset


class SequenceDataset(Dataset):
    def __init__(self, sequences: Sequence[torch.Tensor], labels: torch.Tensor | Sequence[int]):
        if len(sequences) != len(labels):
            raise ValueError(
                f"got {len(sequences)} sequences but {len(labels)} labels; need one label each"
            )
        self.sequences = sequences
        self.labels = labels

    def __len__(self) -> int:
        return len(self.sequences)

    def __getitem__(self, index: int) -> tuple[torch.Tensor, int]:
        return self.sequences[index], self.labels[index]
