"""Known mistake: torch.jit.trace is called as is, so its deprecation warning reaches the caller.

Expect: torch.jit's deprecation warning reached the caller
"""

from __future__ import annotations

import torch
from torch import nn


def trace_legacy(model: nn.Module, example: torch.Tensor) -> torch.jit.ScriptModule:
    model.eval()
    return torch.jit.trace(model, (example,))
