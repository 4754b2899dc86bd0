"""Known mistake: grad_via_backward switches on requires_grad on the caller's x and calls backward through it, so x.grad is polluted.

Expect: x.grad
"""

from __future__ import annotations

from collections.abc import Callable

import torch


def grad_via_backward(f: Callable[[torch.Tensor], torch.Tensor], x: torch.Tensor) -> torch.Tensor:
    x.requires_grad_(True)
    f(x).backward()
    return x.grad
