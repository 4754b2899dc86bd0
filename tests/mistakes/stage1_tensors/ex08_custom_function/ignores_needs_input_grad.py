"""Known mistake: backward computes both gradients every time, ignoring ctx.needs_input_grad.

Autograd throws the unwanted gradient away, so every value is right; but the contract asks
for None where an input does not require grad (that is the work needs_input_grad saves).

Expect: expected none: beta does not require grad, so ctx.needs_input_grad[1] is false
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
        grad_x = grad_out * (s + beta * x * ds)
        grad_beta = (grad_out * x * x * ds).sum_to_size(beta.shape)
        return grad_x, grad_beta
