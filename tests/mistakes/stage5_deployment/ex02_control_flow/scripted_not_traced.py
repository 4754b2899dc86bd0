"""Known mistake: trace_legacy uses torch.jit.script, which compiles the `if` instead of tracing it.

Expect: this exercise asks for the tracer
"""

from __future__ import annotations

import warnings

import torch
from torch import nn


def trace_legacy(model: nn.Module, example: torch.Tensor) -> torch.jit.ScriptModule:
    model.eval()
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", category=FutureWarning)
        return torch.jit.script(model)
