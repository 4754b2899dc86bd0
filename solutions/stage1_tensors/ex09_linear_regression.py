"""1.9 Linear regression from scratch (reference solution)."""

from __future__ import annotations

import torch


def predict(X: torch.Tensor, w: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """Return the predictions ``X @ w + b``, shape ``(N,)``.

    ``X`` is ``(N, D)``, ``w`` is ``(D,)``, ``b`` is a scalar tensor (shape ``()``);
    the result has ``X``'s dtype and device and keeps the autograd graph (it is used
    inside the training loop).
    """
    return X @ w + b


def fit_linear_regression(
    X: torch.Tensor, y: torch.Tensor, *, lr: float, steps: int
) -> tuple[torch.Tensor, torch.Tensor, list[float]]:
    """Fit ``y ≈ X @ w + b`` by full-batch gradient descent on the mean squared error.

    - Start from ``w = zeros(D)`` and ``b = zeros(())`` (X's dtype and device), both
      requiring grad.
    - Each of the ``steps`` steps: compute the MSE ``mean((predict(X, w, b) - y) ** 2)``,
      record ``loss.item()`` (before updating, so ``losses[0]`` is the loss of the zero
      initialisation), call ``backward()``, update ``w -= lr * w.grad`` and
      ``b -= lr * b.grad`` inside ``torch.no_grad()``, and zero both gradients.
    - No ``torch.optim`` and no ``nn.Module`` (``nn.Linear``, ``nn.MSELoss``, …): plain
      tensor operations; functions from ``torch.nn.functional`` such as ``F.mse_loss``
      are allowed. Each step handles all samples at once (no Python loop over them):
      300 steps on about 128 samples take well under a second.
    - Do not modify ``X`` or ``y``.

    Returns ``(w, b, losses)``: ``w`` of shape ``(D,)`` and ``b`` of shape ``()``, on X's
    device with X's dtype, detached (``requires_grad`` False, no ``grad_fn``); ``losses``
    a list of ``steps`` Python floats. With ``steps == 0``: zeros and an empty list.
    """
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
        w.grad.zero_()
        b.grad.zero_()
    return w.detach(), b.detach(), losses
