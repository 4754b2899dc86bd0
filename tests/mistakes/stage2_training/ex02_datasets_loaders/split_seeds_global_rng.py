"""Known mistake: split_dataset calls torch.manual_seed(seed) and a generator-less random_split, resetting everyone's global RNG.

Expect: changed the global RNG state
"""

from __future__ import annotations

import math
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
    sizes = [math.floor(n * f) for f in fractions]
    sizes[0] += n - sum(sizes)
    torch.manual_seed(seed)
    return random_split(dataset, sizes)
