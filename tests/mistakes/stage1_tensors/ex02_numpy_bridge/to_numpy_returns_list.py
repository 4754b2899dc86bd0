"""Known mistake: to_numpy returns t.tolist(), a Python list instead of an array.

Expect: should be a numpy.ndarray
Expect: tolist
"""

from __future__ import annotations

import numpy as np
import torch


def to_numpy(t: torch.Tensor) -> np.ndarray:
    return t.detach().cpu().tolist()
