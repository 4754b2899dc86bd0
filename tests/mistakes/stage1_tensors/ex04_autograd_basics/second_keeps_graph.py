"""Known mistake: second_derivative differentiates the second time with create_graph=True too, so the result still carries a graph.

Expect: still tracks gradients
"""

from __future__ import annotations

from collections.abc import Callable

import torch


def second_derivative(f: Callable[[torch.Tensor], torch.Tensor], x: torch.Tensor) -> torch.Tensor:
    leaf = x.detach().clone().requires_grad_(True)
    (first,) = torch.autograd.grad(f(leaf).sum(), leaf, create_graph=True)
    (second,) = torch.autograd.grad(first.sum(), leaf, create_graph=True)
    return second
