"""Known mistake: seed_everything seeds a new torch.Generator instead of torch's global RNG.

Expect: torch.rand(3)
Expect: torch.manual_seed
"""

from __future__ import annotations

import random

import numpy as np
import torch


def seed_everything(seed: int) -> None:
    random.seed(seed)
    np.random.seed(seed)
    torch.Generator().manual_seed(seed)
