"""1.8 A custom autograd.Function that passes gradcheck (reference solution)."""

from __future__ import annotations

from typing import Any

import torch


class ScaledSwish(torch.autograd.Function):
    """``f(x, beta) = x * sigmoid(beta * x)`` with a hand-written backward.

    ``beta`` is a tensor that broadcasts against ``x``: a scalar tensor (shape ``()``),
    one value per channel (shape ``(C,)`` for ``x`` of shape ``(N, C)``, or
    ``(C, 1, 1)`` for ``x`` of shape ``(N, C, H, W)``), or ``x``'s own shape.
    Both inputs have the same floating dtype (float32 or float64) and device;
    the output has ``x``'s shape, dtype and device. Either input may or may not
    require grad. Inputs are never modified in place.
    """

    @staticmethod
    def forward(ctx: Any, x: torch.Tensor, beta: torch.Tensor) -> torch.Tensor:
        """Compute ``x * sigmoid(beta * x)`` and save what backward needs.

        Save tensors with ``ctx.save_for_backward(...)``, computed in the inputs'
        dtype (a value rounded to float32 is not precise enough for float64 gradcheck).
        """
        s = torch.sigmoid(beta * x)
        ctx.save_for_backward(x, beta, s)
        return x * s

    @staticmethod
    def backward(ctx: Any, grad_out: torch.Tensor) -> tuple[torch.Tensor | None, ...]:
        """Return ``(grad_x, grad_beta)``: the gradients of the loss for x and for beta.

        - ``grad_out`` has the output's shape: the gradient of the loss for the output.
          Each returned gradient is ``grad_out`` times the local derivative (chain rule).
        - Return them in the order of forward's inputs, each with the shape of its own
          input: where ``beta`` was broadcast against ``x``, sum its gradient over the
          broadcast dims so it has ``beta``'s shape.
        - Return ``None`` for an input whose ``ctx.needs_input_grad[i]`` is False.
        """
        # With s = sigmoid(beta * x) and s' = s * (1 - s):
        # df/dx = s + beta * x * s'  and  df/dbeta = x * x * s'.
        x, beta, s = ctx.saved_tensors
        ds = s * (1 - s)
        grad_x = grad_beta = None
        if ctx.needs_input_grad[0]:
            grad_x = grad_out * (s + beta * x * ds)
        if ctx.needs_input_grad[1]:
            grad_beta = (grad_out * x * x * ds).sum_to_size(beta.shape)
        return grad_x, grad_beta


def scaled_swish(x: torch.Tensor, beta: torch.Tensor) -> torch.Tensor:
    """Return ``x * sigmoid(beta * x)`` computed by ``ScaledSwish.apply(x, beta)``.

    Return the result of ``apply`` unchanged, so that its ``grad_fn`` is
    ``ScaledSwishBackward`` and autograd calls your backward.
    """
    return ScaledSwish.apply(x, beta)
