"""Known mistake: train_classifier never calls model.train(), so a model handed over in eval mode trains in eval mode.

Expect: model.train()
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
    losses: list[float] = []
    for _ in range(epochs):
        for batch in loader:
            tokens = batch["tokens"].to(device)
            labels = batch["labels"].to(device)
            optimizer.zero_grad()
            loss = F.cross_entropy(model(tokens, batch["lengths"]), labels)
            loss.backward()
            optimizer.step()
            losses.append(loss.item())
    return losses
