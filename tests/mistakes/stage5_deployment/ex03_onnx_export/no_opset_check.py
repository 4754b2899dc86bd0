"""Known mistake: an opset below 18 is passed on to the exporter instead of being refused.

Expect: expected ValueError to be raised
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
    model.eval()
    name = next(iter(inspect.signature(model.forward).parameters))
    torch.onnx.export(
        model, (example,), path, dynamo=True,
        dynamic_shapes={name: {0: torch.export.Dim("batch")}},
        input_names=["input"], output_names=["logits"], external_data=False,
        opset_version=opset, verbose=False,
    )  # fmt: skip
    onnx.checker.check_model(path)
    return Path(path)
