"""Known mistake: the new conv1 weight is the mean over the input channels instead of the sum.

Expect: the mean of the old one
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
        bias=old.bias is not None,
        padding_mode=old.padding_mode,
        device=old.weight.device,
        dtype=old.weight.dtype,
    )
    with torch.no_grad():
        new.weight.copy_(old.weight.mean(dim=1, keepdim=True))
        if old.bias is not None:
            new.bias.copy_(old.bias)
    model.conv1 = new
    return model
