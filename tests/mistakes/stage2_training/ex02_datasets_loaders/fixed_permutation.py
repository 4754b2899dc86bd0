"""Known mistake: make_loader draws one permutation up front and serves it every epoch, so the order never changes between epochs.

Expect: same order
"""

from __future__ import annotations

import torch
from torch.utils.data import DataLoader, Dataset, Subset, random_split


def make_loader(
    dataset: Dataset, batch_size: int, *, shuffle: bool, seed: int, drop_last: bool = False
) -> DataLoader:
    if shuffle:
        order = torch.randperm(len(dataset), generator=torch.Generator().manual_seed(seed))
        dataset = Subset(dataset, order.tolist())
    return DataLoader(
        dataset,
        batch_size=batch_size,
        shuffle=False,
        drop_last=drop_last,
        num_workers=0,
        generator=torch.Generator().manual_seed(seed),
    )
