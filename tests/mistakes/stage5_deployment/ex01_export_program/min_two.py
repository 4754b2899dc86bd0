"""Known mistake: the batch Dim has min=2 (the 0/1-specialisation folklore), not min=1.

Expect: give the Dim min=1
"""

from __future__ import annotations

import inspect

import torch
from torch import nn
from torch.export import Dim, ExportedProgram


def export_model(
    model: nn.Module, example: torch.Tensor, *, max_batch: int = 1024
) -> ExportedProgram:
    batch = example.shape[0]
    if not 2 <= batch <= max_batch:
        raise ValueError(f"the example's batch must be in [2, {max_batch}], got {batch}")
    model.eval()
    name = next(iter(inspect.signature(model.forward).parameters))
    dynamic_shapes = {name: {0: Dim("batch", min=2, max=max_batch)}}
    return torch.export.export(model, (example,), dynamic_shapes=dynamic_shapes)
