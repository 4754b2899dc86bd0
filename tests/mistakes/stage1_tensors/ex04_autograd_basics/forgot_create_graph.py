"""Known mistake: second_derivative takes the first gradient without create_graph=True, so it cannot be differentiated again.

Expect: create_graph=True
"""

from __future__ import annotations

from collections.abc import Callable

import torch


def second_derivative(f: Callable[[torch.Tensor], torch.Tensor], x: torch.Tensor) -> torch.Tensor:
    leaf = x.detach().clone().requires_grad_(True)
    (first,) = torch.autograd.grad(f(leaf).sum(), leaf)
    (second,) = torch.autograd.grad(first.sum(), leaf)
    return second
