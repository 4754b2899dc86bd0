"""Known mistake: the legacy TorchScript exporter (dynamo=False, dynamic_axes) is used.

Expect: legacy TorchScript exporter
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
        model, (example,), path, dynamo=False, input_names=["input"], output_names=["logits"],
        dynamic_axes={"input": {0: "batch"}, "logits": {0: "batch"}}, opset_version=opset,
    )  # fmt: skip
    onnx.checker.check_model(path)
    return Path(path)
