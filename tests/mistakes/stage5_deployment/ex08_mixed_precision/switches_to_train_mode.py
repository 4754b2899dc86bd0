"""Known mistake: the step calls model.train() first, out of habit, so an eval-mode model changes.

Expect: leaves the model in the mode it is given
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import torch
from torch import nn


def amp_train_step(
    model: nn.Module,
    x: torch.Tensor,
    y: torch.Tensor,
    loss_fn: Callable[[torch.Tensor, torch.Tensor], torch.Tensor],
    optimizer: torch.optim.Optimizer,
    scaler: torch.amp.GradScaler,
    *,
    max_norm: float = 1.0,
) -> dict[str, Any]:
    model.train()  # a training step "should" train... but the mode is the caller's choice
    device_type = x.device.type
    with torch.autocast(device_type=device_type, dtype=_default_dtype(device_type)):
        loss = loss_fn(model(x), y)
    scale_before = scaler.get_scale()
    scaler.scale(loss).backward()
    scaler.unscale_(optimizer)
    grad_norm = torch.nn.utils.clip_grad_norm_(model.parameters(), max_norm)
    scaler.step(optimizer)
    scaler.update()
    optimizer.zero_grad(set_to_none=True)
    scale = scaler.get_scale()
    return {
        "loss": loss.item(),
        "grad_norm": grad_norm.item(),
        "scale": scale,
        "skipped": scale < scale_before,
    }
