"""Known mistake: to_numpy detaches and copies but never calls .cpu().

Right for every CPU tensor; a CUDA tensor makes ``.numpy()`` raise "can't convert cuda:0
device type tensor to numpy".

Expect: use tensor.cpu() to copy the tensor to host memory first
Expect: must come to the cpu first
"""

from __future__ import annotations

import numpy as np
import torch


def to_numpy(t: torch.Tensor) -> np.ndarray:
    return t.detach().numpy().copy()
