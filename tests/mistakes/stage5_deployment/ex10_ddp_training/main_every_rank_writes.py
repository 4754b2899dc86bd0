"""Known mistake: every rank writes its own result file, not only rank 0.

Expect: only rank 0 writes
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
    args = parser.parse_args(argv)
    rank = int(os.environ["RANK"])
    world_size = int(os.environ["WORLD_SIZE"])
    local_rank = int(os.environ.get("LOCAL_RANK", rank))  # the device index on a GPU box
    del local_rank
    result = train_ddp(
        rank, world_size, steps=args.steps, lr=args.lr, seed=args.seed, init_method="env://"
    )
    args.out.mkdir(parents=True, exist_ok=True)
    name = "result.pt" if rank == 0 else f"result_rank{rank}.pt"
    if True:
        partial = args.out / f"{name}.tmp"
        torch.save(result, partial)
        partial.replace(args.out / name)  # readers never see half a file
