"""Known mistake: ScaledSwish reads "scaled" as beta * x * sigmoid(x), forward and backward alike, so gradcheck passes but every value is wrong.

Expect: wrong values
"""

from __future__ import annotations

from typing import Any

import torch


class ScaledSwish(torch.autograd.Function):
    """``f(x, beta) = x * sigmoid(beta * x)`` with a hand-written backward.

    ``beta`` is a tensor that broadcasts against ``x`` (a scalar tensor, one value
    per channel such as shape ``(C,)`` for ``x`` of shape ``(N, C)``, or
    ``(C, 1, 1)`` for ``x`` of shape ``(N, C, H, W)``, or ``x``'s own shape).
    Both inputs have the same floating dtype and device; the output has ``x``'s
    shape, dtype and device.
    """

    @staticmethod
    def forward(ctx: Any, x: torch.Tensor, beta: torch.Tensor) -> torch.Tensor:
        """Compute ``x * sigmoid(beta * x)`` and save what backward needs."""
        s = torch.sigmoid(x)
        ctx.save_for_backward(x, beta, s)
        return beta * x * s

    @staticmethod
    def backward(ctx: Any, grad_out: torch.Tensor) -> tuple[torch.Tensor | None, ...]:
        """Return ``(grad_x, grad_beta)``, each shaped like its input (or None if not needed).

        With ``s = sigmoid(beta * x)`` and ``s' = s * (1 - s)``:
        ``df/dx = s + beta * x * s'`` and ``df/dbeta = x * x * s'``.
        """
        x, beta, s = ctx.saved_tensors
        ds = s * (1 - s)
        grad_x = grad_beta = None
        if ctx.needs_input_grad[0]:
            grad_x = grad_out * beta * (s + x * ds)
        if ctx.needs_input_grad[1]:
            grad_beta = (grad_out * x * s).sum_to_size(beta.shape)
        return grad_x, grad_beta


def scaled_swish(x: torch.Tensor, beta: torch.Tensor) -> torch.Tensor:
    """``x * sigmoid(beta * x)`` through :class:`ScaledSwish` (so its backward is used)."""
    return ScaledSwish.apply(x, beta)
