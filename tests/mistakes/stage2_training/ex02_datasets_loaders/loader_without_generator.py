"""Known mistake: the DataLoader gets no generator, so its shuffling order follows the global RNG.

Expect: shuffling depends on the global RNG
"""

from __future__ import annotations

from torch.utils.data import DataLoader, Dataset, Subset, random_split


def make_loader(
    dataset: Dataset, batch_size: int, *, shuffle: bool, seed: int, drop_last: bool = False
) -> DataLoader:
    return DataLoader(
        dataset,
        batch_size=batch_size,
        shuffle=shuffle,
        drop_last=drop_last,
        num_workers=0,
    )
