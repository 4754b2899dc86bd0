"""5.10 Data-parallel training with torch.distributed on two CPU processes (reference solution)."""

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

N_SAMPLES = 32
N_FEATURES = 6
N_CLASSES = 3


def make_model(seed: int) -> nn.Module:
    """The model every rank trains (given: do not change it).

    ``Linear(6, 16) -> Tanh -> Linear(16, 3)``, its weights drawn from a generator seeded
    with ``seed``: the same seed gives the same weights in every process, and the global
    RNG is not touched.
    """
    gen = torch.Generator().manual_seed(seed)
    model = nn.Sequential(nn.Linear(N_FEATURES, 16), nn.Tanh(), nn.Linear(16, N_CLASSES))
    with torch.no_grad():
        for param in model.parameters():
            param.copy_(0.5 * torch.randn(param.shape, generator=gen))
    return model


def make_data(seed: int) -> tuple[torch.Tensor, torch.Tensor]:
    """The whole training set, the same in every process (given: do not change it).

    ``X``: float32 ``(32, 6)``; ``y``: int64 ``(32,)`` class labels in ``[0, 3)``.
    """
    gen = torch.Generator().manual_seed(seed + 1)
    X = torch.randn(N_SAMPLES, N_FEATURES, generator=gen)
    y = torch.randint(0, N_CLASSES, (N_SAMPLES,), generator=gen)
    return X, y


def shard_indices(
    n: int, world_size: int, rank: int, *, seed: int = 0, epoch: int = 0, shuffle: bool = True
) -> list[int]:
    """The indices of a data set of ``n`` samples that rank ``rank`` of ``world_size`` reads.

    Use the sampler, do not reimplement it: build
    ``torch.utils.data.DistributedSampler(range(n), num_replicas=world_size, rank=rank,
    shuffle=shuffle, seed=seed, drop_last=False)``, call ``set_epoch(epoch)`` on it and
    return ``list(sampler)``.

    What the sampler does (the grader compares your list with its own sampler's): with
    ``shuffle=True`` it permutes ``range(n)`` with a generator seeded with
    ``seed + epoch`` (so every rank computes the *same* permutation without talking to
    the others, and a new epoch gives a new order only if ``set_epoch`` is called); with
    ``shuffle=False`` the order is ``0, 1, ..., n-1``. With ``drop_last=False`` it pads
    that list by repeating its first indices until its length is a multiple of
    ``world_size`` (``ceil(n / world_size) * world_size``), then rank ``r`` takes every
    ``world_size``-th entry starting at ``r``. So the shards are equally long
    (``ceil(n / world_size)``), together they cover every index, and they are disjoint
    when ``world_size`` divides ``n`` (otherwise only the padding repeats).

    Returns:
        a list of Python ints.

    Raises:
        ValueError: ``n < 0``, ``world_size < 1``, or ``rank`` outside
            ``[0, world_size - 1]`` (the sampler raises that one itself).
    """
    if n < 0:
        raise ValueError(f"n must be >= 0, got {n}")
    if world_size < 1:
        raise ValueError(f"world_size must be >= 1, got {world_size}")
    sampler = DistributedSampler(
        range(n), num_replicas=world_size, rank=rank, shuffle=shuffle, seed=seed, drop_last=False
    )
    sampler.set_epoch(epoch)
    return [int(i) for i in sampler]


def train_ddp(
    rank: int, world_size: int, *, steps: int, lr: float, seed: int, init_method: str
) -> dict[str, Any]:
    """Train ``make_model(seed)`` on ``make_data(seed)`` as rank ``rank`` of ``world_size``.

    Run in each of ``world_size`` processes at once (the grader forks them; ``main``
    below is the ``torchrun`` entry point):

    1. validate, before anything else: ``steps >= 1``, ``lr > 0``, and ``world_size``
       divides ``len(X)`` (32), so that every shard has the same size and no sample is
       counted twice; otherwise ``ValueError``, without creating a process group;
    2. ``torch.distributed.init_process_group("gloo", rank=rank, world_size=world_size,
       init_method=init_method)`` (gloo: the CPU backend; ``init_method`` is
       ``"env://"``, ``"tcp://127.0.0.1:PORT"`` or ``"file:///path"``);
    3. ``model = make_model(seed)``, wrapped as ``DistributedDataParallel(model)``, and
       ``torch.optim.SGD(ddp_model.parameters(), lr=lr)`` (no momentum);
    4. ``X, y = make_data(seed)``; ``sampler = DistributedSampler(range(len(X)),
       num_replicas=world_size, rank=rank, shuffle=True, seed=seed)``;
    5. for ``step`` in ``range(steps)``: ``sampler.set_epoch(step)``, ``idx =
       list(sampler)`` (the same as ``shard_indices(len(X), world_size, rank,
       seed=seed, epoch=step)``), then ONE forward of the DDP model on ``X[idx]``,
       ``loss = F.cross_entropy(out, y[idx])`` (the mean over the shard),
       ``zero_grad`` / ``backward`` / ``step``. During ``backward`` DDP all-reduces the
       gradients and divides them by ``world_size``: with equal shards, the averaged
       gradient is exactly the gradient of the mean loss over all 32 samples, so the run
       equals single-process full-batch gradient descent, and every rank holds the same
       weights after every step;
    6. always ``torch.distributed.destroy_process_group()`` in a ``finally`` block, also
       when training raises, so the process can start another group (and exits cleanly).

    Returns:
        ``{"rank": rank, "grads": [...], "state": {...}}``: ``grads`` is a list of
        tensors, the averaged gradients of the FIRST step (after its ``backward``, before
        its ``optimizer.step()``), one per parameter in ``model.parameters()`` order
        (cloned, so later steps do not change them); ``state`` is the inner model's
        ``state_dict()`` after ``steps`` steps (``ddp_model.module.state_dict()``, keys
        such as ``"0.weight"``, without DDP's ``"module."`` prefix), tensors cloned.
        The grader compares both with its own single-process run (``atol=1e-6``).

    Raises:
        ValueError: as in step 1.
    """
    X, y = make_data(seed)
    if steps < 1:
        raise ValueError(f"steps must be >= 1, got {steps}")
    if lr <= 0:
        raise ValueError(f"lr must be > 0, got {lr}")
    if world_size < 1 or len(X) % world_size:
        raise ValueError(f"world_size must divide the {len(X)} samples, got {world_size}")
    dist.init_process_group("gloo", rank=rank, world_size=world_size, init_method=init_method)
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


def main(argv: Sequence[str] | None = None) -> None:
    """The entry point of ``torchrun``: one call per process.

    Launched as::

        python -m torch.distributed.run --standalone --nproc-per-node 2 \\
            ex10_ddp_training.py --steps 5 --out runs/ddp [--lr 0.1] [--seed 0]

    ``torchrun`` (``python -m torch.distributed.run``) starts ``--nproc-per-node``
    processes running this file and gives each its place in the environment:
    ``RANK`` (this process among all), ``WORLD_SIZE`` (how many), ``LOCAL_RANK`` (among
    this machine's; on a GPU machine it picks the device, here it is read and unused),
    plus ``MASTER_ADDR`` and ``MASTER_PORT``, which ``init_method="env://"`` reads.

    Parse ``argv`` (``sys.argv[1:]`` when None) with ``argparse``: ``--steps`` (int,
    required), ``--out`` (a folder, required), ``--lr`` (float, default 0.1), ``--seed``
    (int, default 0). Read ``RANK``, ``WORLD_SIZE`` and ``LOCAL_RANK`` from
    ``os.environ`` (as ints), call ``train_ddp(rank, world_size, steps=..., lr=...,
    seed=..., init_method="env://")``, and on rank 0 only create the ``--out`` folder if
    needed and write ``train_ddp``'s dict to ``OUT/result.pt`` with ``torch.save``. The
    file holds only tensors, ints and plain containers, so it loads with
    ``torch.load(path, weights_only=True)``; no other rank writes anything.

    The file ends with ``if __name__ == "__main__": main()``, so ``torchrun`` (which runs
    it as a script) calls ``main``, and importing it (as the grader does) does not.
    """
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
    if rank == 0:
        args.out.mkdir(parents=True, exist_ok=True)
        partial = args.out / "result.pt.tmp"
        torch.save(result, partial)
        partial.replace(args.out / "result.pt")  # readers never see half a file


if __name__ == "__main__":
    main()
