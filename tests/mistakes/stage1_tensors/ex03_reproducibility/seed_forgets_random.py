"""Known mistake: seed_everything forgets Python's random module.

Expect: random.random()
"""

from __future__ import annotations

import numpy as np
import torch


def seed_everything(seed: int) -> None:
    np.random.seed(seed)
    torch.manual_seed(seed)
    torch.cuda.manual_seed_all(seed)
