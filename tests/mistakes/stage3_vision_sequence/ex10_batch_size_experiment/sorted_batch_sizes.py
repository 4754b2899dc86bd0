"""Known mistake: the batch sizes are run in sorted order, so the rows do not follow batch_sizes.

Expect: do not sort
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable

import torch
import torch.nn.functional as F
from rich.console import Console
from rich.table import Table
from torch import nn

LossFn = Callable[[torch.Tensor, torch.Tensor], torch.Tensor]

COLUMNS = ("batch size", "steps", "wall time (s)", "final loss")


def sample_stream(n: int, samples: int, seed: int) -> torch.Tensor:
    """Return the first ``samples`` indices of the seeded shuffled stream over ``n`` rows.

    The stream is ``torch.randperm(n, generator=g)`` followed by another
    ``torch.randperm(n, generator=g)`` and so on, where ``g`` is a fresh CPU generator
    made by ``torch.Generator().manual_seed(seed)``; draw as many permutations as needed
    (``ceil(samples / n)``), concatenate them and keep the first ``samples`` indices.
    Returns an int64 CPU tensor of shape ``(samples,)``.
    """
    g = torch.Generator().manual_seed(seed)
    rounds = math.ceil(samples / n)
    return torch.cat([torch.randperm(n, generator=g) for _ in range(rounds)])[:samples]


def run_batch_size_experiment(
    make_model: Callable[[], nn.Module],
    X: torch.Tensor,
    y: torch.Tensor,
    *,
    batch_sizes: list[int],
    samples: int,
    lr: float,
    seed: int,
    loss_fn: LossFn = F.mse_loss,
) -> list[dict]:
    """Train one fresh model per batch size on the same budget of samples; report each run.

    For each ``batch_size`` in ``batch_sizes``, in that order:

    1. ``torch.manual_seed(seed)``, then ``model = make_model()`` (called exactly once
       per batch size, so every run starts from the same initial weights), moved to
       ``X.device`` with ``model.to(X.device)``, put in training mode.
    2. ``optimizer = torch.optim.SGD(model.parameters(), lr=lr)``: the SAME ``lr`` for
       every batch size (no scaling rule).
    3. The data order is the seeded stream ``sample_stream(len(X), samples, seed)``: the
       same ``samples`` indices for every batch size. Cut it, in order, into consecutive
       batches of ``batch_size`` indices (``order.split(batch_size)``); the last batch
       is smaller when ``batch_size`` does not divide ``samples`` (it is kept, not
       dropped). So the run takes exactly ``steps = ceil(samples / batch_size)``
       optimizer steps and sees exactly ``samples`` samples in all, whatever the batch
       size.
    4. Each step: ``zero_grad()``, ``loss = loss_fn(model(X[idx]), y[idx])``,
       ``backward()``, ``step()``.
    5. ``wall_time_s``: the seconds the training steps took, measured with
       ``time.perf_counter()``, as a Python float.
    6. ``final_loss``: ``loss_fn(model(X), y)`` on the FULL data, in one forward pass,
       in eval mode and under ``torch.no_grad()``, as a Python float (``.item()``).

    ``loss_fn(prediction, target)`` returns a scalar mean loss (``F.mse_loss`` by
    default; pass ``F.cross_entropy`` for classification). ``X`` and ``y`` are not
    modified.

    Returns one dict per batch size, in the order of ``batch_sizes``, with exactly the
    keys ``"batch_size"`` (int), ``"steps"`` (int), ``"wall_time_s"`` (float) and
    ``"final_loss"`` (float); no tensors. Raises ``ValueError`` when ``samples < 1`` or
    any batch size is smaller than 1.
    """
    if samples < 1:
        raise ValueError(f"samples must be at least 1, got {samples}")
    if any(int(b) < 1 for b in batch_sizes):
        raise ValueError(f"every batch size must be at least 1, got {list(batch_sizes)}")
    order = sample_stream(len(X), samples, seed).to(X.device)
    rows = []
    for batch_size in sorted(batch_sizes):
        batch_size = int(batch_size)
        torch.manual_seed(seed)
        model = make_model().to(X.device)
        model.train()
        optimizer = torch.optim.SGD(model.parameters(), lr=lr)
        steps = 0
        started = time.perf_counter()
        for idx in order.split(batch_size):
            optimizer.zero_grad()
            loss = loss_fn(model(X[idx]), y[idx])
            loss.backward()
            optimizer.step()
            steps += 1
        wall_time_s = time.perf_counter() - started
        model.eval()
        with torch.no_grad():
            final_loss = loss_fn(model(X), y).item()
        rows.append(
            {
                "batch_size": batch_size,
                "steps": steps,
                "wall_time_s": float(wall_time_s),
                "final_loss": float(final_loss),
            }
        )
    return rows


def render_table(rows: list[dict]) -> Table:
    """Build a ``rich.table.Table`` of the experiment's rows.

    Four columns, with exactly these headers in this order: ``"batch size"``,
    ``"steps"``, ``"wall time (s)"``, ``"final loss"``; one table row per result row,
    in order. Cells are strings: ``str(batch_size)``, ``str(steps)``, the wall time
    as ``f"{wall_time_s:.4f}"`` and the final loss as ``f"{final_loss:.6g}"``.
    The rows are not modified.
    """
    table = Table(title="Batch-size experiment")
    for name in COLUMNS:
        table.add_column(name, justify="right")
    for row in rows:
        table.add_row(
            str(row["batch_size"]),
            str(row["steps"]),
            f"{row['wall_time_s']:.4f}",
            f"{row['final_loss']:.6g}",
        )
    return table


def print_table(rows: list[dict], console: Console | None = None) -> None:
    """Print ``render_table(rows)`` with ``console``, or with a new ``Console()`` if None.

    The new console is created inside the call (so it writes to the current
    ``sys.stdout``). Returns ``None``.
    """
    (console if console is not None else Console()).print(render_table(rows))
