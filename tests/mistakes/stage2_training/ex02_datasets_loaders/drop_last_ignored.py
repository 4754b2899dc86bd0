"""Known mistake: make_loader never passes drop_last on, so the short last batch is always kept.

Expect: drop_last
"""

from __future__ import annotations

import torch
from torch.utils.data import DataLoader, Dataset, Subset, random_split


def make_loader(
    dataset: Dataset, batch_size: int, *, shuffle: bool, seed: int, drop_last: bool = False
) -> DataLoader:
    return DataLoader(
        dataset,
        batch_size=batch_size,
        shuffle=shuffle,
        num_workers=0,
        generator=torch.Generator().manual_seed(seed),
    )
