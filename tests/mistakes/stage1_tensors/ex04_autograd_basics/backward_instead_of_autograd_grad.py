"""Known mistake: grad_via_autograd_grad calls output.backward() and reads x.grad, writing gradients into .grad.

Expect: x.grad
"""

from __future__ import annotations

import torch


def grad_via_autograd_grad(output: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
    output.backward()
    return x.grad
