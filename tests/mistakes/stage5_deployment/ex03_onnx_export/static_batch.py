"""Known mistake: exported without dynamic_shapes, so the ONNX graph fixes the batch at the example's size.

Expect: expected a symbolic one
"""

from __future__ import annotations

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
    torch.onnx.export(
        model, (example,), path, dynamo=True, input_names=["input"], output_names=["logits"],
        external_data=False, opset_version=opset, verbose=False,
    )  # fmt: skip
    onnx.checker.check_model(path)
    return Path(path)
