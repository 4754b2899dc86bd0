"""Known mistake: the update is done by torch.optim.SGD instead of by hand.

Expect: torch.optim
Expect: SGD
"""

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
      are allowed.
    - Do not modify ``X`` or ``y``.

    Returns ``(w, b, losses)``: ``w`` of shape ``(D,)`` and ``b`` of shape ``()``, on X's
    device with X's dtype, detached (``requires_grad`` False, no ``grad_fn``); ``losses``
    a list of ``steps`` Python floats. With ``steps == 0``: zeros and an empty list.
    """
    w = torch.zeros(X.shape[1], dtype=X.dtype, device=X.device, requires_grad=True)
    b = torch.zeros((), dtype=X.dtype, device=X.device, requires_grad=True)
    opt = torch.optim.SGD([w, b], lr=lr)
    losses: list[float] = []
    for _ in range(steps):
        loss = ((predict(X, w, b) - y) ** 2).mean()
        losses.append(loss.item())
        opt.zero_grad()
        loss.backward()
        opt.step()
    return w.detach(), b.detach(), losses
