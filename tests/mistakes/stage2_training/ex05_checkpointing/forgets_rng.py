"""Known mistake: the checkpoint restores model, optimizer and scheduler but no random number generator.

Expect: RNG
Expect: set it back when loading
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
    """Write everything needed to resume training exactly, as ONE file at ``path``.

    ``epoch`` is the index (0-based) of the epoch that has just finished. The file is a
    single ``torch.save`` of a dict with these keys:

    - ``"model"``: ``model.state_dict()`` (parameters and buffers, not the module object);
    - ``"optimizer"``: ``optimizer.state_dict()`` (Adam's moment estimates and step counts
      live there);
    - ``"scheduler"``: ``scheduler.state_dict()``;
    - ``"epoch"``: ``epoch``, a Python int;
    - ``"rng"``: the state of every global random number generator training draws from:
      torch's CPU generator, every CUDA device's generator (when CUDA is available), the
      MPS generator (when MPS is available), NumPy's global generator and Python's
      ``random``;
    - ``"extra"``: ``extra`` as given (``None`` by default), e.g. the best validation loss.

    The file must load with ``torch.load(path, map_location="cpu", weights_only=True)``:
    store only tensors and plain Python values (dict, list, tuple, str, int, float, bool,
    None), never a module, an optimizer or a NumPy array. Saving changes nothing: the model,
    the optimizer, the scheduler and every RNG are left exactly as they were.
    """
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
        "extra": extra,
    }
    torch.save(checkpoint, path)


def load_checkpoint(
    path: str | Path,
    *,
    model: nn.Module,
    optimizer: torch.optim.Optimizer,
    scheduler: torch.optim.lr_scheduler.LRScheduler,
) -> int:
    """Restore a checkpoint written by ``save_checkpoint`` and return the epoch to resume at.

    ``model``, ``optimizer`` and ``scheduler`` are freshly built objects of the same kind
    (the optimizer over ``model``'s parameters, the scheduler on that optimizer), not the
    ones that were saved. Restore, in place:

    - the model's parameters and buffers (the model stays on its device; its Parameters
      stay the same objects);
    - the optimizer's state (moments, step counts, learning rates);
    - the scheduler's state (how many epochs it has counted);
    - the global RNGs: torch CPU, CUDA and MPS (each when the file has it and the device
      is available here), NumPy and Python ``random``, so the next random draws (dropout
      masks, shuffles, augmentations) are the ones the uninterrupted run would have made.

    Returns ``epoch + 1`` (a Python int), the first epoch still to run, so that a loop
    ``for epoch in range(start, num_epochs)`` continues where the saved run stopped.

    Load with ``map_location="cpu"``, so that a checkpoint written on a GPU machine loads
    on a CPU-only one (``load_state_dict`` then copies values onto the model's device), and
    with ``weights_only=True``, so that a file holding pickled Python objects (which could
    run arbitrary code while loading) is refused with an error instead of being executed.
    """
    checkpoint = torch.load(path, map_location="cpu", weights_only=True)
    model.load_state_dict(checkpoint["model"])
    optimizer.load_state_dict(checkpoint["optimizer"])
    scheduler.load_state_dict(checkpoint["scheduler"])

    rng = checkpoint["rng"]
    return int(checkpoint["epoch"]) + 1
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
