"""Known mistake: share_from_numpy copies the array with torch.tensor(arr), so nothing is shared.

Expect: does not share memory
"""

from __future__ import annotations

import numpy as np
import torch


def share_from_numpy(arr: np.ndarray) -> torch.Tensor:
    return torch.tensor(arr)
