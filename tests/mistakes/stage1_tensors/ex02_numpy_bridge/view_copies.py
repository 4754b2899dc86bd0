"""Known mistake: numpy_view_of returns a copy (t.detach().clone().numpy()) instead of a view.

Expect: does not share memory with t
"""

from __future__ import annotations

import numpy as np
import torch


def numpy_view_of(t: torch.Tensor) -> np.ndarray:
    return t.detach().clone().numpy()
