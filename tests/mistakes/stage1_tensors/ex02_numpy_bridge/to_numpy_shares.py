"""Known mistake: to_numpy returns t.detach().cpu().numpy(), which shares a CPU tensor's memory.

Expect: array is not independent
"""

from __future__ import annotations

import numpy as np
import torch


def to_numpy(t: torch.Tensor) -> np.ndarray:
    return t.detach().cpu().numpy()
