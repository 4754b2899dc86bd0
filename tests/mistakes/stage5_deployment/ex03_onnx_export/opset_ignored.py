"""Known mistake: the opset argument is validated but never passed to the exporter (opset_version).

Expect: pass opset_version=opset
"""

from __future__ import annotations

import inspect
import os
from pathlib import Path

import onnx
import torch
from torch import nn


def export_onnx(
    model: nn.Module, example: torch.Tensor, path: str | os.PathLike[str], *, opset: int = 18
) -> Path:
    if opset < 18:
        raise ValueError(f"opset must be 18 or higher, got {opset}")
    model.eval()
    name = next(iter(inspect.signature(model.forward).parameters))
    torch.onnx.export(
        model, (example,), path, dynamo=True,
        dynamic_shapes={name: {0: torch.export.Dim("batch")}},
        input_names=["input"], output_names=["logits"], external_data=False, verbose=False,
    )  # fmt: skip
    onnx.checker.check_model(path)
    return Path(path)
