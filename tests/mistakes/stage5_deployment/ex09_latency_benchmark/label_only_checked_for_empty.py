"""Known mistake: only the empty label is refused, so a label that is not a str gets through.

Expect: label=None): expected ValueError
"""

from __future__ import annotations

import torch
from torch import nn


def profile_table(model: nn.Module, x: torch.Tensor, *, label="inference", row_limit=10) -> str:
    if label == "":
        raise ValueError("label must not be empty")
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
    return prof.key_averages().table(sort_by="cpu_time_total", row_limit=row_limit)
