"""Known mistake: make_loader's drop_last defaults to True, so a loader built without it loses the short last batch.

Expect: drop_last defaults to false
"""

from __future__ import annotations

import torch
from torch.utils.data import DataLoader, Dataset


def make_loader(
    dataset: Dataset, batch_size: int, *, shuffle: bool, seed: int, drop_last: bool = True
) -> DataLoader:
    return DataLoader(
        dataset,
        batch_size=batch_size,
        shuffle=shuffle,
        drop_last=drop_last,
        num_workers=0,
        generator=torch.Generator().manual_seed(seed),
    )
