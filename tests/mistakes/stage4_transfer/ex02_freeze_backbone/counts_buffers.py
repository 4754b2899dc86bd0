"""Known mistake: the total is counted over model.state_dict(), which includes the buffers.

Expect: includes the buffers
"""

from __future__ import annotations

from torch import nn


def count_parameters(model: nn.Module) -> tuple[int, int]:
    trainable = sum(p.numel() for p in model.parameters() if p.requires_grad)
    total = sum(t.numel() for t in model.state_dict().values())
    return trainable, total
