"""Known mistake: w and b are created without device=X.device, so they always live on the CPU.

Right on a CPU-only machine; with X on a GPU, ``X @ w`` raises "Expected all tensors to be
on the same device".

Expect: combined x (on device meta) with a tensor made on the cpu
Expect: device=x.device
"""

from __future__ import annotations

import torch


def fit_linear_regression(
    X: torch.Tensor, y: torch.Tensor, *, lr: float, steps: int
) -> tuple[torch.Tensor, torch.Tensor, list[float]]:
    w = torch.zeros(X.shape[1], dtype=X.dtype, requires_grad=True)
    b = torch.zeros((), dtype=X.dtype, requires_grad=True)
    losses: list[float] = []
    for _ in range(steps):
        loss = ((predict(X, w, b) - y) ** 2).mean()
        losses.append(loss.item())
        loss.backward()
        with torch.no_grad():
            w -= lr * w.grad
            b -= lr * b.grad
        w.grad.zero_()
        b.grad.zero_()
    return w.detach(), b.detach(), losses
