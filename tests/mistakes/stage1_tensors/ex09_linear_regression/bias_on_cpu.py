"""Known mistake: b is created without device=X.device (w is right), so b stays on the CPU.

A 0-dim CPU tensor mixes with GPU tensors without an error, so the fit runs; but the
returned b is on the CPU, not on X's device.

Expect: the returned b is on cpu, not on x's device
"""

from __future__ import annotations

import torch


def fit_linear_regression(
    X: torch.Tensor, y: torch.Tensor, *, lr: float, steps: int
) -> tuple[torch.Tensor, torch.Tensor, list[float]]:
    w = torch.zeros(X.shape[1], dtype=X.dtype, device=X.device, requires_grad=True)
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
