"""Known mistake: train_classifier never clears the gradients, so they add up from batch to batch.

Expect: zero_grad()
"""

from __future__ import annotations

from collections.abc import Iterable

import torch
from torch import nn
from torch.nn import functional as F


def train_classifier(
    model: nn.Module, loader: Iterable[dict[str, torch.Tensor]], *, epochs: int, lr: float
) -> list[float]:
    device = next(model.parameters()).device
    optimizer = torch.optim.Adam(model.parameters(), lr=lr)
    model.train()
    losses: list[float] = []
    for _ in range(epochs):
        for batch in loader:
            tokens = batch["tokens"].to(device)
            labels = batch["labels"].to(device)
            loss = F.cross_entropy(model(tokens, batch["lengths"]), labels)
            loss.backward()
            optimizer.step()
            losses.append(loss.item())
    return losses
