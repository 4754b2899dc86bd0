"""Known mistake: to_numpy calls .numpy() without .detach(), which fails on a tensor that requires grad.

Expect: requires grad
"""

from __future__ import annotations

import numpy as np
import torch


def to_numpy(t: torch.Tensor) -> np.ndarray:
    return t.cpu().numpy().copy()
