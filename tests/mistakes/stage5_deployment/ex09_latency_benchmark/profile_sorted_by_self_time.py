"""Known mistake: the table is sorted by self CPU time, so the rows are not in order of total CPU time.

Expect: not sorted by 'CPU total'
"""

from __future__ import annotations

import torch
from torch import nn


def profile_table(model: nn.Module, x: torch.Tensor, *, label="inference", row_limit=10) -> str:
    if not isinstance(label, str) or not label:
        raise ValueError(f"label must be a non-empty string, got {label!r}")
    if row_limit < 1:
        raise ValueError(f"row_limit must be >= 1, got {row_limit}")
    activities = [torch.profiler.ProfilerActivity.CPU]
    if x.device.type == "cuda":
        activities.append(torch.profiler.ProfilerActivity.CUDA)
    with (
        torch.profiler.profile(activities=activities) as prof,
        torch.profiler.record_function(label),
        torch.inference_mode(),
    ):
        model(x)
    return prof.key_averages().table(sort_by="self_cpu_time_total", row_limit=row_limit)
