"""Known mistake: second_derivative returns the first derivative f'(x) instead of the second.

Expect: second derivative of
Expect: wrong values
"""

from __future__ import annotations

from collections.abc import Callable

import torch


def second_derivative(f: Callable[[torch.Tensor], torch.Tensor], x: torch.Tensor) -> torch.Tensor:
    leaf = x.detach().clone().requires_grad_(True)
    (first,) = torch.autograd.grad(f(leaf).sum(), leaf, create_graph=True)
    return first.detach()
