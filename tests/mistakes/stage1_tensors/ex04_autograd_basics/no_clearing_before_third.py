"""Known mistake: two_step_grads forgets to clear w.grad before the third backward pass, so it accumulates to three times the gradient.

Expect: third gradient
"""

from __future__ import annotations

from collections.abc import Callable

import torch


def two_step_grads(
    w: torch.Tensor, loss_fn: Callable[[torch.Tensor], torch.Tensor]
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    w.grad = None
    loss_fn(w).backward()
    first = w.grad.clone()
    loss_fn(w).backward()
    second = w.grad.clone()
    loss_fn(w).backward()
    third = w.grad.clone()
    return first, second, third
