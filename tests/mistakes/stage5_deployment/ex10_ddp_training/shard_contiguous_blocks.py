"""Known mistake: shard_indices hands each rank a contiguous block of the permutation instead of using the sampler's interleaving.

Expect: contiguous block
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
    if not 0 <= rank < world_size:
        raise ValueError(f"rank must be in [0, {world_size - 1}], got {rank}")
    if shuffle:
        order = torch.randperm(n, generator=torch.Generator().manual_seed(seed + epoch)).tolist()
    else:
        order = list(range(n))
    per_rank = -(-n // world_size)
    order = (order * (world_size + 1))[: per_rank * world_size]
    return order[rank * per_rank : (rank + 1) * per_rank]
