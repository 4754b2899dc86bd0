"""Known mistake: train_lenet uses plain SGD instead of Adam.

Expect: Adam
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn


def train_lenet(
    model: nn.Module,
    train_x: torch.Tensor,
    train_y: torch.Tensor,
    *,
    epochs: int,
    lr: float,
    batch_size: int,
    seed: int,
) -> list[float]:
    model.train()
    optimizer = torch.optim.SGD(model.parameters(), lr=lr)
    generator = torch.Generator().manual_seed(seed)
    n = len(train_x)
    losses: list[float] = []
    for _ in range(epochs):
        order = torch.randperm(n, generator=generator).to(train_x.device)
        total = 0.0
        for start in range(0, n, batch_size):
            idx = order[start : start + batch_size]
            optimizer.zero_grad()
            loss = F.cross_entropy(model(train_x[idx]), train_y[idx])
            loss.backward()
            optimizer.step()
            total += loss.item() * len(idx)
        losses.append(total / n)
    return losses
