"""Known mistake: seed_everything calls np.random.default_rng(seed), which seeds nothing global.

Expect: np.random.rand(3)
"""

from __future__ import annotations

import random

import numpy as np
import torch


def seed_everything(seed: int) -> None:
    random.seed(seed)
    np.random.default_rng(seed)
    torch.manual_seed(seed)
    torch.cuda.manual_seed_all(seed)
