"""Known mistake: evaluate never calls model.eval(): Dropout stays on and BatchNorm updates its statistics.

Expect: model.eval()
Expect: train mode
"""

from __future__ import annotations

from collections.abc import Callable, Iterable

import torch
from torch import nn


def evaluate(
    model: nn.Module,
    loader: Iterable[tuple[torch.Tensor, torch.Tensor]],
    loss_fn: Callable[[torch.Tensor, torch.Tensor], torch.Tensor],
    device: torch.device | str,
) -> dict[str, float]:
    total_loss, correct, count = 0.0, 0, 0
    with torch.no_grad():
        for x, y in loader:
            x, y = x.to(device), y.to(device)
            logits = model(x)
            total_loss += loss_fn(logits, y).item() * x.shape[0]
            correct += int((logits.argmax(dim=1) == y).sum().item())
            count += x.shape[0]
    return {"loss": total_loss / count, "accuracy": correct / count}
