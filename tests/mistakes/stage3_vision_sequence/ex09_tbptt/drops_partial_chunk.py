"""Known mistake: only whole chunks are used (range(T // chunk)), so the shorter last chunk is dropped.

Expect: ceil(T / chunk)
Expect: last chunk
"""

from __future__ import annotations

from collections.abc import Callable

import torch
from torch import nn


def train_tbptt(
    model: nn.Module,
    inputs: torch.Tensor,
    targets: torch.Tensor,
    *,
    chunk: int,
    optimizer: torch.optim.Optimizer,
    loss_fn: Callable[[torch.Tensor, torch.Tensor], torch.Tensor],
) -> list[float]:
    if chunk < 1:
        raise ValueError(f"chunk must be at least 1, got {chunk}")
    hidden = None
    losses: list[float] = []
    for start in range(0, (inputs.shape[1] // chunk) * chunk, chunk):
        x = inputs[:, start : start + chunk]
        y = targets[:, start : start + chunk]
        hidden = detach_hidden(hidden)
        optimizer.zero_grad()
        out, hidden = model(x, hidden)
        loss = loss_fn(out, y)
        loss.backward()
        optimizer.step()
        losses.append(loss.item())
    return losses
