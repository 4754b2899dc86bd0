"""Known mistake: the arguments are checked only after init_process_group, so a bad call first waits for the other ranks.

Expect: before raising
"""

from __future__ import annotations

import argparse
import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import torch
import torch.distributed as dist
import torch.nn.functional as F
from torch import nn
from torch.nn.parallel import DistributedDataParallel
from torch.utils.data import DistributedSampler


def train_ddp(
    rank: int, world_size: int, *, steps: int, lr: float, seed: int, init_method: str
) -> dict[str, Any]:
    dist.init_process_group("gloo", rank=rank, world_size=world_size, init_method=init_method)
    X, y = make_data(seed)
    if steps < 1:
        raise ValueError(f"steps must be >= 1, got {steps}")
    if lr <= 0:
        raise ValueError(f"lr must be > 0, got {lr}")
    if world_size < 1 or len(X) % world_size:
        raise ValueError(f"world_size must divide the {len(X)} samples, got {world_size}")
    try:
        model = make_model(seed)
        ddp_model = DistributedDataParallel(model)
        optimizer = torch.optim.SGD(ddp_model.parameters(), lr=lr)
        sampler = DistributedSampler(
            range(len(X)), num_replicas=world_size, rank=rank, shuffle=True, seed=seed
        )
        first_grads: list[torch.Tensor] = []
        for step in range(steps):
            sampler.set_epoch(step)
            idx = list(sampler)
            optimizer.zero_grad()
            loss = F.cross_entropy(ddp_model(X[idx]), y[idx])
            loss.backward()
            if step == 0:
                first_grads = [p.grad.detach().clone() for p in model.parameters()]
            optimizer.step()
        state = {k: v.detach().clone() for k, v in model.state_dict().items()}
        return {"rank": rank, "grads": first_grads, "state": state}
    finally:
        dist.destroy_process_group()
