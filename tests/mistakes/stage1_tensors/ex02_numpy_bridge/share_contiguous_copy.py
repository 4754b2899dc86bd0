"""Known mistake: share_from_numpy makes the array contiguous first, which copies a view.

``torch.from_numpy(np.ascontiguousarray(arr))`` shares memory with a plain array but not
with a transposed or strided view: that one is copied before it is wrapped.

Expect: does not share memory with arr
Expect: np.ascontiguousarray copy
"""

from __future__ import annotations

import numpy as np
import torch


def share_from_numpy(arr: np.ndarray) -> torch.Tensor:
    return torch.from_numpy(np.ascontiguousarray(arr))
