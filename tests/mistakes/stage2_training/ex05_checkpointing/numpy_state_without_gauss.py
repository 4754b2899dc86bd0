"""Known mistake: load_checkpoint restores NumPy's state as the 3-tuple (bit_generator, key, pos), which resets has_gauss to 0 and loses a cached Gaussian draw.

Expect: NumPy's global RNG
"""

from __future__ import annotations

import random
from pathlib import Path

import numpy as np
import torch
from torch import nn


def load_checkpoint(
    path: str | Path,
    *,
    model: nn.Module,
    optimizer: torch.optim.Optimizer,
    scheduler: torch.optim.lr_scheduler.LRScheduler,
) -> int:
    checkpoint = torch.load(path, map_location="cpu", weights_only=True)
    model.load_state_dict(checkpoint["model"])
    optimizer.load_state_dict(checkpoint["optimizer"])
    scheduler.load_state_dict(checkpoint["scheduler"])

    rng = checkpoint["rng"]
    torch.set_rng_state(rng["torch"])
    if "cuda" in rng and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(rng["cuda"])
    if "mps" in rng and torch.backends.mps.is_available():
        torch.mps.set_rng_state(rng["mps"])
    state = rng["numpy"]
    np.random.set_state(
        (state["bit_generator"], state["key"].numpy().astype(np.uint32), state["pos"])
    )
    random.setstate(rng["python"])
    return int(checkpoint["epoch"]) + 1
