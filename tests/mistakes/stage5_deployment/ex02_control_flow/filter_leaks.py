"""Known mistake: the FutureWarning filter is installed globally and outlives the call.

Expect: your filter outlived the call
"""

from __future__ import annotations

import warnings

import torch
from torch import nn


def trace_legacy(model: nn.Module, example: torch.Tensor) -> torch.jit.ScriptModule:
    model.eval()
    warnings.filterwarnings("ignore", category=FutureWarning)
    return torch.jit.trace(model, (example,))
