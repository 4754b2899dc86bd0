"""Known mistake: the forward is profiled without record_function(label), so no row carries the label.

Expect: record_function(label)
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
    with torch.profiler.profile(activities=activities) as prof, torch.inference_mode():
        model(x)
    return prof.key_averages().table(sort_by="cpu_time_total", row_limit=row_limit)
