"""Known mistake: split_dataset requires the fractions to sum to exactly 1.0, rejecting sums within the documented 1e-6.

Expect: summing to 1 within 1e-6
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import torch
from torch.utils.data import Dataset, Subset, random_split


def split_dataset(dataset: Dataset, fractions: Sequence[float], seed: int) -> list[Subset]:
    fractions = [float(f) for f in fractions]
    if not fractions or any(not 0.0 < f <= 1.0 for f in fractions):
        raise ValueError(f"fractions must be in (0, 1], got {fractions}")
    if math.fsum(fractions) != 1.0:
        raise ValueError(f"fractions must sum to 1, got {fractions} (sum {sum(fractions)})")
    n = len(dataset)
    sizes = [math.floor(n * f) for f in fractions]
    sizes[0] += n - sum(sizes)
    return random_split(dataset, sizes, generator=torch.Generator().manual_seed(seed))
