"""Known mistake: main parses sys.argv instead of its argv argument.

Expect: parser.parse_args(argv)
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


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description="Data-parallel training on CPU processes.")
    parser.add_argument("--steps", type=int, required=True, help="SGD steps")
    parser.add_argument("--out", type=Path, required=True, help="folder for result.pt")
    parser.add_argument("--lr", type=float, default=0.1, help="learning rate")
    parser.add_argument("--seed", type=int, default=0, help="model, data and shuffle seed")
    args = parser.parse_args()
    rank = int(os.environ["RANK"])
    world_size = int(os.environ["WORLD_SIZE"])
    local_rank = int(os.environ.get("LOCAL_RANK", rank))  # the device index on a GPU box
    del local_rank
    result = train_ddp(
        rank, world_size, steps=args.steps, lr=args.lr, seed=args.seed, init_method="env://"
    )
    if rank == 0:
        args.out.mkdir(parents=True, exist_ok=True)
        partial = args.out / "result.pt.tmp"
        torch.save(result, partial)
        partial.replace(args.out / "result.pt")  # readers never see half a file
