"""Known mistake: the example's batch is not validated, so torch's own errors surface instead.

Expect: expected ValueError to be raised
"""

from __future__ import annotations

import inspect

import torch
from torch import nn
from torch.export import Dim, ExportedProgram


def export_model(
    model: nn.Module, example: torch.Tensor, *, max_batch: int = 1024
) -> ExportedProgram:
    model.eval()
    name = next(iter(inspect.signature(model.forward).parameters))
    dynamic_shapes = {name: {0: Dim("batch", min=1, max=max_batch)}}
    return torch.export.export(model, (example,), dynamic_shapes=dynamic_shapes)
