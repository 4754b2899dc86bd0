"""Known mistake: row_limit is validated but not passed to .table(), which then prints every row.

Expect: pass row_limit
"""

from __future__ import annotations

import torch
from torch import nn


def profile_table(model: nn.Module, x: torch.Tensor, *, label="inference", row_limit=10) -> str:
    if not isinstance(label, str) or not label:
        raise ValueError(f"label must be a non-empty string, got {label!r}")
    if row_limit < 1:
        raise ValueError(f"row_limit must be >= 1, got {row_limit}")
    with (
        torch.profiler.profile(activities=[torch.profiler.ProfilerActivity.CPU]) as prof,
        torch.profiler.record_function(label),
        torch.inference_mode(),
    ):
        model(x)
    return prof.key_averages().table(sort_by="cpu_time_total")
