"""Known mistake: seed_everything folds the seed for NumPy with ``seed % (2**32 - 1)``.

A snippet copied from worker_init_fn recipes: it maps the largest allowed seed, 2**32 - 1,
to 0, so two different seeds give NumPy the same draws.

Expect: after seed_everything(4294967295), np.random.rand(3) gave
Expect: np.random.seed
"""

from __future__ import annotations

import random

import numpy as np
import torch


def seed_everything(seed: int) -> None:
    random.seed(seed)
    np.random.seed(seed % (2**32 - 1))
    torch.manual_seed(seed)
    torch.cuda.manual_seed_all(seed)
