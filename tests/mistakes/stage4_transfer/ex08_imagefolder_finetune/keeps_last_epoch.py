"""Known mistake: fine_tune returns (and keeps) the last epoch's weights, not the best epoch's.

Expect: last epoch's
"""

from __future__ import annotations

import torch
from torch import nn


def fine_tune(
    model: nn.Module,
    train_loader: Batches,
    val_loader: Batches,
    *,
    epochs: int = 3,
    lr: float = 1e-3,
    device: str | torch.device = "cpu",
) -> tuple[dict[str, torch.Tensor], list[dict[str, float]]]:
    if epochs < 1:
        raise ValueError(f"epochs must be at least 1, got {epochs}")
    device = torch.device(device)
    model.to(device)
    optimizer = torch.optim.Adam([p for p in model.parameters() if p.requires_grad], lr=lr)
    history: list[dict[str, float]] = []
    for epoch in range(1, epochs + 1):
        train_loss, _ = _run_phase(model, train_loader, device, optimizer)
        val_loss, val_acc = _run_phase(model, val_loader, device, None)
        history.append(
            {"epoch": epoch, "train_loss": train_loss, "val_loss": val_loss, "val_acc": val_acc}
        )
    return _cpu_copy(model), history
