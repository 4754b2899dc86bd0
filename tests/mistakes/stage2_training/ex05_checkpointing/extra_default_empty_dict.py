"""Known mistake: save_checkpoint stores ``extra or {}``, so a checkpoint saved without extra holds an empty dict instead of None.

Expect: (extra left out)
Expect: none when it is left out
"""

from __future__ import annotations

import random
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn


def save_checkpoint(
    path: str | Path,
    *,
    model: nn.Module,
    optimizer: torch.optim.Optimizer,
    scheduler: torch.optim.lr_scheduler.LRScheduler,
    epoch: int,
    extra: dict[str, Any] | None = None,
) -> None:
    np_state = np.random.get_state()
    rng: dict[str, Any] = {
        "torch": torch.get_rng_state(),
        "numpy": {
            "bit_generator": str(np_state[0]),
            "key": torch.from_numpy(np_state[1].astype(np.int64)),
            "pos": int(np_state[2]),
            "has_gauss": int(np_state[3]),
            "cached_gaussian": float(np_state[4]),
        },
        "python": random.getstate(),
    }
    if torch.cuda.is_available():
        rng["cuda"] = torch.cuda.get_rng_state_all()
    if torch.backends.mps.is_available():
        rng["mps"] = torch.mps.get_rng_state()
    checkpoint = {
        "model": model.state_dict(),
        "optimizer": optimizer.state_dict(),
        "scheduler": scheduler.state_dict(),
        "epoch": int(epoch),
        "rng": rng,
        "extra": extra or {},
    }
    torch.save(checkpoint, path)
