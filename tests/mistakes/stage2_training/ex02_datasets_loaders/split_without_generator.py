"""Known mistake: random_split is called without a generator, so the split follows the global RNG.

Expect: depends on the global RNG
Expect: generator=torch.Generator().manual_seed(seed)
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence

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
    return random_split(dataset, sizes)
