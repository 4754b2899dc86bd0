"""5.2 Data-dependent control flow with torch.cond (and why tracing bakes it in).

Write GatedBlock, export_gated and trace_legacy below, then run ``make check ex=5.2``.
The lesson is in README.md next to this file.
"""

from __future__ import annotations

import warnings  # noqa: F401  (warnings.catch_warnings is for trace_legacy)

import torch
from torch import nn
from torch.export import ExportedProgram


class PythonIfBlock(nn.Module):
    """Given, do not change: the two branches of :class:`GatedBlock`, chosen with a Python ``if``.

    ``forward(x)`` returns ``self.up(x)`` when ``x.mean() > 0`` and ``self.down(x)``
    otherwise. Eagerly that is right for every input. But ``if`` needs a Python ``bool``,
    so ``x.mean() > 0`` is turned into one: a tracer (``torch.jit.trace``) sees only the
    branch its example took and records that one, and ``torch.export`` refuses to guess
    ("Could not guard on data-dependent expression"). Use it to see both with
    :func:`trace_legacy`.
    """

    def __init__(self, dim: int) -> None:
        super().__init__()
        self.up = nn.Linear(dim, dim)
        self.down = nn.Linear(dim, dim)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if x.mean() > 0:  # a tensor turned into a Python bool: the value is lost to a tracer
            return self.up(x)
        return self.down(x)


class GatedBlock(nn.Module):
    """``up(x)`` when the mean of ``x`` is positive, else ``down(x)``, written with ``torch.cond``.

    Attributes (the grader loads reference weights with ``load_state_dict(strict=True)``, so
    the names are part of the contract; the ``state_dict`` keys are exactly
    ``up.weight``, ``up.bias``, ``down.weight``, ``down.bias``):

    - ``self.up``: ``nn.Linear(dim, dim)``, the branch for a positive mean;
    - ``self.down``: ``nn.Linear(dim, dim)``, the branch otherwise.
    """

    def __init__(self, dim: int) -> None:
        """Build the two branches ``up`` and ``down``, each ``nn.Linear(dim, dim)`` with a bias.

        Args:
            dim: the size of the last dimension of the input (and of the output).
        """
        super().__init__()
        # TODO(5.2): build self.up and self.down.
        raise NotImplementedError("5.2: GatedBlock.__init__")

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """``self.up(x)`` if ``x.mean() > 0`` (the mean of *all* elements), else ``self.down(x)``.

        The choice is made with ``torch.cond(pred, true_fn, false_fn, (x,))``, where ``pred``
        is the 0-dim bool tensor ``x.mean() > 0``: strictly greater, so a mean of exactly 0
        (e.g. an all-zeros ``x``) takes ``down``. No Python ``if`` on a tensor (a tracer
        would bake in one branch, and ``torch.export`` fails on it), no ``.item()``, and no
        ``torch.where`` (which computes both branches and mixes them element by element):
        with ``torch.cond`` an exported graph holds both branches as subgraphs and runs one.
        Both branches return a tensor of ``x``'s shape and dtype, as ``torch.cond`` requires.

        Args:
            x: a float tensor ``(..., dim)``, e.g. ``(N, dim)``.

        Returns:
            A tensor of ``x``'s shape, dtype and device: exactly the output of the chosen
            ``nn.Linear``.
        """
        # TODO(5.2): choose the branch with torch.cond(pred, true_fn, false_fn, (x,)).
        raise NotImplementedError("5.2: GatedBlock.forward")


def export_gated(model: nn.Module, example: torch.Tensor) -> ExportedProgram:
    """Export a :class:`GatedBlock` with ``torch.export.export``; both branches are kept.

    Calls ``model.eval()`` (the model is left in eval mode), then
    ``torch.export.export(model, (example,))``. Shapes are static here (5.1 covers dynamic
    ones): the program takes inputs of ``example``'s shape. Whatever the example's mean,
    ``program.module()(x)`` takes ``up`` for an ``x`` with a positive mean and ``down``
    otherwise, because the graph holds a ``torch.ops.higher_order.cond`` node with both
    branches as subgraphs.

    Args:
        model: a :class:`GatedBlock` (any mode).
        example: an input of the shape the program will take.

    Returns:
        The ``torch.export.ExportedProgram`` (not ``program.module()``).
    """
    # TODO(5.2): eval mode, then torch.export.export.
    raise NotImplementedError("5.2: export_gated")


def trace_legacy(model: nn.Module, example: torch.Tensor) -> torch.jit.ScriptModule:
    """The legacy path: ``torch.jit.trace(model, (example,))``, deprecated in torch 2.14.

    Calls ``model.eval()`` (the model is left in eval mode), then traces. Tracing runs the
    forward once on ``example`` and records the tensor operations it executed; a Python
    ``if`` is evaluated then and there, so the returned module always runs the branch
    ``example`` took. For a :class:`PythonIfBlock` traced on an example with a positive
    mean, the traced module returns ``up(x)`` even for an ``x`` with a negative mean.
    (Do not use ``torch.jit.script``, which would compile the ``if``: the point here is to
    see what tracing does.)

    Warnings, which are part of the contract:

    - ``torch.jit.trace`` warns that it is deprecated with a ``FutureWarning`` (its message
      says "`torch.jit.trace` is deprecated. Please switch to `torch.compile` or
      `torch.export`", and tracing also issues one for `torch.jit.trace_method`). Suppress
      those, and only for this call: ``with warnings.catch_warnings():`` plus
      ``warnings.filterwarnings("ignore", category=FutureWarning)`` (a ``message=`` regex
      is fine too). The caller's warning filters are as they were afterwards.
    - The ``torch.jit.TracerWarning`` ("Converting a tensor to a Python boolean might cause
      the trace to be incorrect") is the one that tells you the trace is wrong: it must
      still reach the caller. Do not silence every warning.

    Args:
        model: any ``nn.Module`` whose forward takes one tensor, e.g. a :class:`PythonIfBlock`.
        example: the example input the trace runs on.

    Returns:
        The traced module, a ``torch.jit.ScriptModule``.
    """
    # TODO(5.2): eval mode, then torch.jit.trace with only its FutureWarning suppressed.
    raise NotImplementedError("5.2: trace_legacy")
