"""Known mistake: grad_via_autograd_grad calls output.backward() and reads x.grad, writing gradients into .grad.

Expect: x.grad
"""

from __future__ import annotations

from collections.abc import Callable

import torch


def grad_via_backward(f: Callable[[torch.Tensor], torch.Tensor], x: torch.Tensor) -> torch.Tensor:
    """Return the gradient of the scalar ``f(x)`` with respect to ``x``, using ``.backward()``.

    - ``f`` maps a tensor shaped like ``x`` to a scalar (0-dim) tensor;
    - the result has ``x``'s shape, dtype and device, and carries no autograd graph;
    - ``x`` itself is left exactly as it came: same values, same ``requires_grad``, and its
      ``.grad`` untouched (``x`` may or may not require grad on entry). Work on a fresh leaf
      copy of ``x`` instead.
    """
    leaf = x.detach().clone().requires_grad_(True)
    f(leaf).backward()
    return leaf.grad


def two_step_grads(
    w: torch.Tensor, loss_fn: Callable[[torch.Tensor], torch.Tensor]
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Show how ``.grad`` accumulates: three snapshots of ``w.grad``.

    ``w`` is a leaf tensor with ``requires_grad=True`` (think: a parameter); its ``.grad`` may
    still hold a stale gradient from earlier work, which must not count. ``loss_fn(w)`` builds a
    scalar loss (call it again for each backward pass). Return, as a tuple:

    1. ``w.grad`` after clearing the stale gradient and one backward pass;
    2. ``w.grad`` after a second backward pass, without clearing in between (twice the first);
    3. ``w.grad`` after clearing it and one more backward pass (equal to the first again).

    Each returned tensor is an independent snapshot (later changes to ``w.grad`` must not
    change it) with no autograd graph. ``w``'s values are not changed; on return ``w.grad``
    holds the gradient of exactly one backward pass.
    """
    w.grad = None
    loss_fn(w).backward()
    first = w.grad.clone()
    loss_fn(w).backward()
    second = w.grad.clone()
    w.grad = None
    loss_fn(w).backward()
    third = w.grad.clone()
    return first, second, third


def grad_via_autograd_grad(output: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
    """Return d(output)/dx for a graph that is already built, using ``torch.autograd.grad``.

    - ``output`` is a scalar (0-dim) tensor computed from ``x`` (and perhaps from parameters);
    - ``x`` is any tensor in ``output``'s graph: a leaf with ``requires_grad=True`` or an
      intermediate result;
    - the result has ``x``'s shape, dtype and device, and carries no autograd graph;
    - no ``.grad`` anywhere is populated or changed: not ``x.grad``, not the parameters' (this
      is how gradient penalties and saliency maps are computed in the middle of training).
    """
    output.backward()
    return x.grad


def second_derivative(f: Callable[[torch.Tensor], torch.Tensor], x: torch.Tensor) -> torch.Tensor:
    """Return the elementwise second derivative d²f/dx² of an elementwise function ``f`` at ``x``.

    - ``f`` acts elementwise (like ``torch.sin`` or ``lambda t: t**3``), is not linear, and
      returns a tensor shaped like ``x``;
    - element ``i`` of the result is ``f''(x[i])``; for example ``f = torch.sin`` gives
      ``-torch.sin(x)``;
    - the result has ``x``'s shape, dtype and device, and carries no autograd graph;
    - ``x`` is left exactly as it came (values, ``requires_grad``, ``.grad``).
    """
    leaf = x.detach().clone().requires_grad_(True)
    (first,) = torch.autograd.grad(f(leaf).sum(), leaf, create_graph=True)
    (second,) = torch.autograd.grad(first.sum(), leaf)
    return second
