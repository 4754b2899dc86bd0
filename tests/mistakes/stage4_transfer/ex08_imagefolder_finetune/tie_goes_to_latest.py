"""Known mistake: a later epoch that only ties the best val_acc replaces it (>= instead of >).

Expect: earliest epoch
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
    best_acc, best_state = -1.0, _cpu_copy(model)
    for epoch in range(1, epochs + 1):
        train_loss, _ = _run_phase(model, train_loader, device, optimizer)
        val_loss, val_acc = _run_phase(model, val_loader, device, None)
        history.append(
            {"epoch": epoch, "train_loss": train_loss, "val_loss": val_loss, "val_acc": val_acc}
        )
        if val_acc >= best_acc:
            best_acc, best_state = val_acc, _cpu_copy(model)
    model.load_state_dict(best_state)
    model.eval()
    return best_state, history
