"""Known mistake: pick_device checks mps before cuda.

Expect: pick_device()
"""

from __future__ import annotations

import torch


def pick_device() -> torch.device:
    if torch.backends.mps.is_available():
        return torch.device("mps")
    if torch.cuda.is_available():
        return torch.device("cuda")
    return torch.device("cpu")
