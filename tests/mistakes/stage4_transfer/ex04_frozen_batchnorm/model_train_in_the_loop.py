"""Known mistake: train_head calls model.train(), so the frozen BatchNorm layers learn running statistics.

Expect: set_trainable_mode(model) at the start of train_head, not model.train()
"""

from __future__ import annotations

import torch
from torch import nn


def train_head(model, loader, optimizer, loss_fn, device) -> float:
    model.train()  # requires_grad=False does not stop BatchNorm from updating its buffers
    total, count = 0.0, 0
    for x, y in loader:
        x, y = x.to(device), y.to(device)
        optimizer.zero_grad()
        loss = loss_fn(model(x), y)
        loss.backward()
        optimizer.step()
        total += loss.item() * x.shape[0]
        count += x.shape[0]
    return total / count
