"""Known mistake: copy_from_numpy uses torch.as_tensor(arr), which shares the array's memory.

Expect: not independent
Expect: shares memory with arr
"""

from __future__ import annotations

import numpy as np
import torch


def copy_from_numpy(arr: np.ndarray) -> torch.Tensor:
    return torch.as_tensor(arr)
