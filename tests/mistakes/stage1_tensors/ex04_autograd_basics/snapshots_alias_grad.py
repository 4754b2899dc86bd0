"""Known mistake: two_step_grads returns w.grad itself instead of clones, so the snapshots change as w.grad does.

Expect: w.grad.clone()
"""

from __future__ import annotations

from collections.abc import Callable

import torch


def two_step_grads(
    w: torch.Tensor, loss_fn: Callable[[torch.Tensor], torch.Tensor]
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    w.grad = None
    loss_fn(w).backward()
    first = w.grad
    loss_fn(w).backward()
    second = w.grad
    w.grad = None
    loss_fn(w).backward()
    third = w.grad
    return first, second, third
