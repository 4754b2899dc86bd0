"""Known mistake: count_parameters sums over state_dict(), which also holds buffers such as BatchNorm's running statistics.

Expect: buffers
"""

from __future__ import annotations

from torch import nn


def count_parameters(model: nn.Module) -> int:
    return sum(t.numel() for t in model.state_dict().values())
