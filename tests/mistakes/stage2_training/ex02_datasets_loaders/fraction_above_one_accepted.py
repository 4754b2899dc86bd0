"""Known mistake: split_dataset checks only that each fraction is positive, so a fraction just above 1 passes when the sum is within the tolerance.

Expect: 1 + 5e-7 lies outside (0, 1]
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import torch
from torch.utils.data import Dataset, Subset, random_split


def split_dataset(dataset: Dataset, fractions: Sequence[float], seed: int) -> list[Subset]:
    fractions = [float(f) for f in fractions]
    if not fractions or any(f <= 0.0 for f in fractions):
        raise ValueError(f"fractions must be in (0, 1], got {fractions}")
    if abs(sum(fractions) - 1.0) > 1e-6:
        raise ValueError(f"fractions must sum to 1, got {fractions} (sum {sum(fractions)})")
    n = len(dataset)
    sizes = [math.floor(n * f) for f in fractions]
    sizes[0] += n - sum(sizes)
    return random_split(dataset, sizes, generator=torch.Generator().manual_seed(seed))
