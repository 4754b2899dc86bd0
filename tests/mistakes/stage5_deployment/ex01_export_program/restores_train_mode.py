"""Known mistake: the model is exported in eval mode, then put back in the mode it came in.

Expect: in training mode
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
    was_training = model.training
    model.eval()
    name = next(iter(inspect.signature(model.forward).parameters))
    dynamic_shapes = {name: {0: Dim("batch", min=1, max=max_batch)}}
    program = torch.export.export(model, (example,), dynamic_shapes=dynamic_shapes)
    model.train(was_training)  # "leave things as they were": but the contract says eval
    return program
