"""Known mistake: grad_norm is measured again after clipping, so it never exceeds max_norm.

Expect: the norm after clipping
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
    device_type = x.device.type
    with torch.autocast(device_type=device_type, dtype=_default_dtype(device_type)):
        loss = loss_fn(model(x), y)
    scale_before = scaler.get_scale()
    scaler.scale(loss).backward()
    scaler.unscale_(optimizer)
    torch.nn.utils.clip_grad_norm_(model.parameters(), max_norm)
    grad_norm = torch.linalg.vector_norm(
        torch.stack([p.grad.norm() for p in model.parameters() if p.grad is not None])
    )
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
