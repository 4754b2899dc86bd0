"""Known mistake: grad_via_backward copies x with x.clone() (no detach), which is not a leaf when x requires grad.

Expect: not a leaf
"""

from __future__ import annotations

from collections.abc import Callable

import torch


def grad_via_backward(f: Callable[[torch.Tensor], torch.Tensor], x: torch.Tensor) -> torch.Tensor:
    leaf = x.clone().requires_grad_(True)
    f(leaf).backward()
    return leaf.grad
