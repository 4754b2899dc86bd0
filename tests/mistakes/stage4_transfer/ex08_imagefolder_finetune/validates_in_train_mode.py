"""Known mistake: the val phase runs with the model still in training mode (no model.eval()).

Expect: model.eval()
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn


def _run_phase(
    model: nn.Module,
    batches: Batches,
    device: torch.device,
    optimizer: torch.optim.Optimizer | None,
) -> tuple[float, float]:
    training = optimizer is not None
    model.train()
    total_loss, correct, seen = 0.0, 0, 0
    for x, y in batches:
        x, y = x.to(device), y.to(device)
        with torch.set_grad_enabled(training):
            logits = model(x)
            loss = F.cross_entropy(logits, y)
            if optimizer is not None:
                optimizer.zero_grad()
                loss.backward()
                optimizer.step()
        total_loss += loss.item() * x.shape[0]
        correct += int((logits.argmax(dim=1) == y).sum())
        seen += x.shape[0]
    return total_loss / seen, correct / seen
