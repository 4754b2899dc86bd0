"""Known mistake: load_checkpoint passes weights_only=False, so a malicious file runs code while loading.

Expect: the code in the file ran
Expect: weights_only=True
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
    checkpoint = torch.load(path, map_location="cpu", weights_only=False)
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
        (
            state["bit_generator"],
            state["key"].numpy().astype(np.uint32),
            state["pos"],
            state["has_gauss"],
            state["cached_gaussian"],
        )
    )
    random.setstate(rng["python"])
    return int(checkpoint["epoch"]) + 1
