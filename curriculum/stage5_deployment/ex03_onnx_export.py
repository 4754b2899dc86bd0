"""5.3 ONNX with the dynamo exporter and an onnxruntime session.

Write export_onnx, make_session and run_session below, then run ``make check ex=5.3``.
The lesson is in README.md next to this file.
"""

from __future__ import annotations

import inspect  # noqa: F401  (inspect.signature reads the forward's parameters)
import os
from pathlib import Path

import numpy as np
import onnx  # noqa: F401  (onnx.checker.check_model checks the file)
import onnxruntime as ort
import torch
from torch import nn


def export_onnx(
    model: nn.Module, example: torch.Tensor, path: str | os.PathLike[str], *, opset: int = 18
) -> Path:
    """Export ``model`` to one self-contained ONNX file at ``path``, with a dynamic batch.

    Steps:

    1. ``opset`` below 18 raises ``ValueError`` (before exporting): the dynamo exporter
       has no implementations older than opset 18 and would only try to convert down.
    2. ``model.eval()``; the model is left in eval mode afterwards.
    3. Export with the current exporter, built on ``torch.export``::

           torch.onnx.export(model, (example,), path, dynamo=True,
                             dynamic_shapes={name: {0: torch.export.Dim("batch")}},
                             input_names=["input"], output_names=["logits"],
                             external_data=False, opset_version=opset)

       - ``dynamo=True``: the legacy TorchScript exporter (``dynamo=False``, with
         ``dynamic_axes``) is deprecated: it emits a ``DeprecationWarning``, which the
         grader treats as a failure.
       - ``dynamic_shapes`` keys the forward's first parameter name, read with
         ``inspect.signature(model.forward)`` as in 5.1 (``"x"``, ``"images"``, ...; the
         positional tuple form ``({0: ...},)`` is equivalent). The batch (dim 0) becomes a
         *symbolic* dimension of the ONNX graph: ``dim_param`` is a name such as
         ``"batch"``, not a number, so onnxruntime accepts any batch size. Any of
         ``Dim("batch")``, ``Dim("batch", max=...)`` or the string ``"batch"`` works.
       - ``input_names=["input"]``, ``output_names=["logits"]``: the names of the graph's
         only input and only output.
       - ``external_data=False``: the weights go into the ``.onnx`` file itself. By default
         (``True``) the exporter writes them to a second file, ``<name>.onnx.data``, which
         has to travel with the model; here the folder holds exactly one file afterwards.
       - ``opset_version=opset``: the file's ``opset_import`` records it for the default
         ONNX domain (``""``).
       - ``verbose=False`` is optional: it silences the exporter's progress lines.
    4. ``onnx.checker.check_model(path)``: check the written file, passing the *path*
       (``str`` or ``Path``), not a loaded ``ModelProto`` (the path form also works for
       models over the 2 GB protobuf limit). The grader watches that call.

    Args:
        model: an ``nn.Module`` whose forward takes one float32 tensor (dim 0 is the
            batch) and returns one tensor; any mode (it is switched to eval).
        example: an example input of batch size 2 or more (torch specialises 1).
        path: where to write the file (``str`` or ``Path``); its folder exists.
        opset: the ONNX opset to target (keyword-only, default 18; 18 or higher).

    Returns:
        ``pathlib.Path(path)``: the file written. An onnxruntime session on it gives the
        eval-mode eager output ``model(x)`` for any batch size, within ``atol=1e-5,
        rtol=1e-4`` (the grader's tolerance).

    Raises:
        ValueError: when ``opset < 18``.
    """
    # TODO(5.3): validate opset, model.eval(), torch.onnx.export(..., dynamo=True, ...),
    # then onnx.checker.check_model(path); return the Path.
    raise NotImplementedError("5.3: export_onnx")


def make_session(path: str | os.PathLike[str]) -> ort.InferenceSession:
    """An onnxruntime session on the ONNX file at ``path``, on the CPU.

    ``onnxruntime.InferenceSession(str(path), providers=["CPUExecutionProvider"])``: name
    the provider explicitly (builds with a GPU provider refuse a session without the
    ``providers`` argument since onnxruntime 1.9, and the list fixes which one runs).
    ``session.get_providers()`` is then exactly
    ``["CPUExecutionProvider"]``.

    Args:
        path: an ``.onnx`` file (``str`` or ``Path``), any model, any input name.

    Returns:
        The ``onnxruntime.InferenceSession``.
    """
    # TODO(5.3): an InferenceSession on the CPU provider.
    raise NotImplementedError("5.3: make_session")


def run_session(session: ort.InferenceSession, x: np.ndarray) -> np.ndarray:
    """Run ``session`` on ``x`` and return its first output.

    Feeds ``{session.get_inputs()[0].name: x as float32}``: the input name comes from the
    session (a model exported in this exercise calls it ``"input"``, others do not), and
    ``x`` is converted with ``x.astype(np.float32)`` (onnxruntime refuses a float64 array
    for a float input instead of converting it). ``x`` itself is not modified.

    Args:
        session: an ``onnxruntime.InferenceSession`` whose model has one float input.
        x: a NumPy array of any float dtype, shaped as the model's input.

    Returns:
        ``session.run(None, feeds)[0]``: a NumPy ``float32`` array.
    """
    # TODO(5.3): feed x as float32 under the session's input name; return the first output.
    raise NotImplementedError("5.3: run_session")
