"""Known mistake: trace_legacy ignores every warning, the TracerWarning that flags the bug included.

Expect: no TracerWarning reached the caller
"""

from __future__ import annotations

import warnings

import torch
from torch import nn


def trace_legacy(model: nn.Module, example: torch.Tensor) -> torch.jit.ScriptModule:
    model.eval()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return torch.jit.trace(model, (example,))
