"""Known mistake: to_numpy casts every array to float32.

Expect: array has dtype float32, expected float64
"""

from __future__ import annotations

import numpy as np
import torch


def to_numpy(t: torch.Tensor) -> np.ndarray:
    return t.detach().cpu().numpy().astype(np.float32)
