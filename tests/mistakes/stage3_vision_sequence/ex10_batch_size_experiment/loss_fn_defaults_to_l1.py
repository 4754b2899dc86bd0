"""Known mistake: loss_fn defaults to F.l1_loss, not the documented F.mse_loss.

Expect: with loss_fn left out the harness uses f.mse_loss
"""

from __future__ import annotations

import time
from collections.abc import Callable

import torch
import torch.nn.functional as F
from torch import nn


def run_batch_size_experiment(
    make_model: Callable[[], nn.Module],
    X: torch.Tensor,
    y: torch.Tensor,
    *,
    batch_sizes: list[int],
    samples: int,
    lr: float,
    seed: int,
    loss_fn: LossFn = F.l1_loss,
) -> list[dict]:
    if samples < 1:
        raise ValueError(f"samples must be at least 1, got {samples}")
    if any(int(b) < 1 for b in batch_sizes):
        raise ValueError(f"every batch size must be at least 1, got {list(batch_sizes)}")
    order = sample_stream(len(X), samples, seed).to(X.device)
    rows = []
    for batch_size in batch_sizes:
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
