"""Known mistake: shuffled_indices shuffles with NumPy, which gives another order than torch.randperm.

Expect: expected
Expect: torch.randperm
"""

from __future__ import annotations

import numpy as np
import torch


def shuffled_indices(n: int, seed: int) -> torch.Tensor:
    return torch.from_numpy(np.random.default_rng(seed).permutation(n))
