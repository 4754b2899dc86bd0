"""Known mistake: split sizes are computed with round() instead of floor, so an item can be lost or the leftover misplaced.

Expect: floor(n * fraction)
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import torch
from torch.utils.data import DataLoader, Dataset, Subset, random_split


def split_dataset(dataset: Dataset, fractions: Sequence[float], seed: int) -> list[Subset]:
    fractions = [float(f) for f in fractions]
    if not fractions or any(not 0.0 < f <= 1.0 for f in fractions):
        raise ValueError(f"fractions must be in (0, 1], got {fractions}")
    if abs(sum(fractions) - 1.0) > 1e-6:
        raise ValueError(f"fractions must sum to 1, got {fractions} (sum {sum(fractions)})")
    n = len(dataset)
    sizes = [round(n * f) for f in fractions]
    return random_split(dataset, sizes, generator=torch.Generator().manual_seed(seed))
