"""Known mistake: export_gated exports without model.eval(), leaving the model in training mode.

Expect: export_gated calls model.eval() first
"""

from __future__ import annotations

import torch
from torch import nn
from torch.export import ExportedProgram


def export_gated(model: nn.Module, example: torch.Tensor) -> ExportedProgram:
    return torch.export.export(model, (example,))
