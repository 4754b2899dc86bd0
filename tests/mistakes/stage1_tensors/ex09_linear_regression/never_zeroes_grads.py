"""Known mistake: the gradients are never zeroed, so they add up from step to step.

Expect: never zeroed
Expect: zero_()
"""

from __future__ import annotations

import torch


def fit_linear_regression(
    X: torch.Tensor, y: torch.Tensor, *, lr: float, steps: int
) -> tuple[torch.Tensor, torch.Tensor, list[float]]:
    w = torch.zeros(X.shape[1], dtype=X.dtype, device=X.device, requires_grad=True)
    b = torch.zeros((), dtype=X.dtype, device=X.device, requires_grad=True)
    losses: list[float] = []
    for _ in range(steps):
        loss = ((predict(X, w, b) - y) ** 2).mean()
        losses.append(loss.item())
        loss.backward()
        with torch.no_grad():
            w -= lr * w.grad
            b -= lr * b.grad
    return w.detach(), b.detach(), losses
