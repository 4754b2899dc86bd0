"""Known mistake: the new conv1 is always built with bias=False, so an old bias is lost.

Expect: bias=False, expected True
"""

from __future__ import annotations

import torch
from torch import nn


def adapt_first_conv(model: nn.Module) -> nn.Module:
    old = model.conv1
    if old.in_channels != 3 or old.groups != 1:
        raise ValueError(f"conv1 must have 3 input channels, got {old.in_channels}")
    new = nn.Conv2d(
        1,
        old.out_channels,
        kernel_size=old.kernel_size,
        stride=old.stride,
        padding=old.padding,
        dilation=old.dilation,
        bias=False,
        padding_mode=old.padding_mode,
        device=old.weight.device,
        dtype=old.weight.dtype,
    )
    with torch.no_grad():
        new.weight.copy_(old.weight.sum(dim=1, keepdim=True))
    model.conv1 = new
    return model
