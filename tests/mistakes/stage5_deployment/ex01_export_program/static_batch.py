"""Known mistake: exported without dynamic_shapes, so the program only takes the example's batch.

Expect: mark dim 0 as dynamic
"""

from __future__ import annotations

import torch
from torch import nn
from torch.export import ExportedProgram


def export_model(
    model: nn.Module, example: torch.Tensor, *, max_batch: int = 1024
) -> ExportedProgram:
    batch = example.shape[0]
    if not 2 <= batch <= max_batch:
        raise ValueError(f"the example's batch must be in [2, {max_batch}], got {batch}")
    model.eval()
    return torch.export.export(model, (example,))
