"""Known mistake: to_numpy switches off requires_grad on its input to be allowed to call .numpy().

Expect: requires_grad is False
"""

from __future__ import annotations

import numpy as np
import torch


def to_numpy(t: torch.Tensor) -> np.ndarray:
    t.requires_grad_(False)
    return t.cpu().numpy().copy()
