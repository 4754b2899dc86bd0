"""Known mistake: SequenceDataset stores clones of the sequences instead of keeping them as given.

Expect: is a copy of it
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
        self.sequences = [seq.clone() for seq in sequences]
        self.labels = labels

    def __len__(self) -> int:
        return len(self.sequences)

    def __getitem__(self, index: int) -> tuple[torch.Tensor, int]:
        return self.sequences[index], int(self.labels[index])
