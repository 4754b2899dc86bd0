"""Known mistake: the gradient for x treats sigmoid(beta * x) as a constant (no sigmoid' term).

Expect: gradient for x
Expect: product rule
"""

from __future__ import annotations

from typing import Any

import torch


class ScaledSwish(torch.autograd.Function):
    @staticmethod
    def forward(ctx: Any, x: torch.Tensor, beta: torch.Tensor) -> torch.Tensor:
        s = torch.sigmoid(beta * x)
        ctx.save_for_backward(x, beta, s)
        return x * s

    @staticmethod
    def backward(ctx: Any, grad_out: torch.Tensor) -> tuple[torch.Tensor | None, ...]:
        x, beta, s = ctx.saved_tensors
        ds = s * (1 - s)
        grad_x = grad_beta = None
        if ctx.needs_input_grad[0]:
            grad_x = grad_out * s
        if ctx.needs_input_grad[1]:
            grad_beta = (grad_out * x * x * ds).sum_to_size(beta.shape)
        return grad_x, grad_beta
