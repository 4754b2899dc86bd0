"""Known mistake: shard_indices never calls set_epoch, so every epoch gets the shuffle of epoch 0.

Expect: set_epoch(epoch)
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


def shard_indices(
    n: int, world_size: int, rank: int, *, seed: int = 0, epoch: int = 0, shuffle: bool = True
) -> list[int]:
    if n < 0:
        raise ValueError(f"n must be >= 0, got {n}")
    if world_size < 1:
        raise ValueError(f"world_size must be >= 1, got {world_size}")
    sampler = DistributedSampler(
        range(n), num_replicas=world_size, rank=rank, shuffle=shuffle, seed=seed, drop_last=False
    )
    return [int(i) for i in sampler]
