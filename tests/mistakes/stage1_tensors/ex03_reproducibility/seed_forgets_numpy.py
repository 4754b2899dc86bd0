"""Known mistake: seed_everything seeds random and torch but forgets NumPy's global RNG.

Expect: np.random.rand(3)
Expect: np.random.seed
"""

from __future__ import annotations

import random

import torch


def seed_everything(seed: int) -> None:
    random.seed(seed)
    torch.manual_seed(seed)
    torch.cuda.manual_seed_all(seed)
