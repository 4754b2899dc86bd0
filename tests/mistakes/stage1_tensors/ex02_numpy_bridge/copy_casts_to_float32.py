"""Known mistake: copy_from_numpy uses torch.Tensor(arr), which always makes float32.

Expect: dtype torch.float32, expected torch.float64
"""

from __future__ import annotations

import numpy as np
import torch


def copy_from_numpy(arr: np.ndarray) -> torch.Tensor:
    return torch.Tensor(arr)
