"""5.1 torch.export with a dynamic batch, saved and loaded.

Write export_model, save_program and load_program below, then run ``make check ex=5.1``.
The lesson is in README.md next to this file.
"""

from __future__ import annotations

import inspect  # noqa: F401  (inspect.signature reads the forward's parameters)
import os

import torch
from torch import nn
from torch.export import Dim, ExportedProgram  # noqa: F401  (Dim is for export_model)


def export_model(
    model: nn.Module, example: torch.Tensor, *, max_batch: int = 1024
) -> ExportedProgram:
    """Export ``model`` for inference with ``torch.export``, the batch dimension left dynamic.

    Steps:

    1. Validate the example: its batch size ``example.shape[0]`` must satisfy
       ``2 <= example.shape[0] <= max_batch``, otherwise raise ``ValueError`` (before
       exporting). A batch of 1 is refused because torch specialises sizes 0 and 1: an
       example of batch 1 would make export treat the batch as the constant 1 (it fails
       with "your code specialized it to be a constant"). So export with a batch of 2 or
       more, and the program still accepts a batch of 1.
    2. ``model.eval()``: export records the forward as it runs *now*, so in train mode the
       program would keep Dropout active and BatchNorm normalising by batch statistics.
       The model is left in eval mode afterwards (``model.training`` is False for it and
       for every submodule); its parameters and buffers are not changed (no forward pass
       in train mode before exporting).
    3. ``torch.export.export(model, (example,), dynamic_shapes=...)`` where
       ``dynamic_shapes = {name: {0: torch.export.Dim("batch", min=1, max=max_batch)}}``
       and ``name`` is the name of the forward's first parameter, read with
       ``inspect.signature(model.forward)`` (``self`` is not listed for a bound method):
       ``"x"`` for ``def forward(self, x)``, ``"images"`` for ``def forward(self, images)``.
       torch refuses a dict whose keys are not the forward's parameter names. (The
       positional form, a one-element tuple ``({0: Dim(...)},)``, is equivalent and
       accepted too.)

    Args:
        model: an ``nn.Module`` whose forward takes one tensor (dim 0 is the batch) and
            returns one tensor; any mode (it is switched to eval).
        example: an example input, on the model's device and in its dtype; only its shape
            past dim 0, dtype and device are baked into the program.
        max_batch: the largest batch the program accepts (keyword-only, default 1024).

    Returns:
        The ``torch.export.ExportedProgram`` itself (not ``program.module()``). Its
        ``range_constraints`` hold exactly one symbol, the batch, with the range
        ``[1, max_batch]``. ``program.module()(x)`` runs for any batch from 1 to
        ``max_batch`` (the other dimensions as in ``example``) and returns the eval-mode
        eager output ``model(x)`` up to float32 rounding (the grader compares with
        ``rtol=1e-5, atol=1e-5``); a batch above ``max_batch`` raises (torch's guard
        check, an ``AssertionError`` in torch 2.14).

    Raises:
        ValueError: when ``example.shape[0] < 2`` or ``example.shape[0] > max_batch``.
    """
    # TODO(5.1): validate the example's batch, model.eval(), then torch.export.export with a
    # dynamic batch keyed by the forward's first parameter name.
    raise NotImplementedError("5.1: export_model")


def save_program(program: ExportedProgram, path: str | os.PathLike[str]) -> None:
    """Write ``program`` to ``path`` with ``torch.export.save`` (one file; ``.pt2`` by convention).

    Args:
        program: an ``ExportedProgram`` (from ``torch.export.export``).
        path: a file path, ``str`` or ``pathlib.Path``; its folder exists. Exactly this
            one file is written (nothing else in the folder); an existing file is replaced.

    Returns:
        None. The file is what ``torch.export.load`` reads back: not a pickle written with
        ``torch.save``. The program keeps its dynamic batch and its range.
    """
    # TODO(5.1): write the program with torch.export.save.
    raise NotImplementedError("5.1: save_program")


def load_program(path: str | os.PathLike[str]) -> ExportedProgram:
    """Read a program written by ``torch.export.save`` (or :func:`save_program`) from ``path``.

    Args:
        path: a file path, ``str`` or ``pathlib.Path``.

    Returns:
        The ``torch.export.ExportedProgram`` from ``torch.export.load(path)``, with the
        dynamic batch it was saved with: ``program.module()(x)`` gives the same outputs
        as before saving, for every batch the saved program accepted.
    """
    # TODO(5.1): read it back with torch.export.load.
    raise NotImplementedError("5.1: load_program")
