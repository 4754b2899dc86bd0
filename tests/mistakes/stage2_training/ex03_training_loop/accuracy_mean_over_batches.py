"""Known mistake: accuracy is the mean of the per-batch accuracies.

Expect: mean of the per-batch accuracies
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
    model.eval()
    total_loss, correct, count, accs = 0.0, 0, 0, []
    with torch.no_grad():
        for x, y in loader:
            x, y = x.to(device), y.to(device)
            logits = model(x)
            total_loss += loss_fn(logits, y).item() * x.shape[0]
            correct += int((logits.argmax(dim=1) == y).sum().item())
            accs.append((logits.argmax(dim=1) == y).float().mean().item())
            count += x.shape[0]
    return {"loss": total_loss / count, "accuracy": sum(accs) / len(accs)}
