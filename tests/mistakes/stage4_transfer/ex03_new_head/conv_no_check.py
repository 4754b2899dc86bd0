"""Known mistake: adapt_first_conv never checks conv1's input channels, so it "adapts" any conv.

Expect: expected ValueError
"""

from __future__ import annotations

import torch
from torch import nn


def adapt_first_conv(model: nn.Module) -> nn.Module:
    old = model.conv1
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
        new.weight.copy_(old.weight.sum(dim=1, keepdim=True)[:, :1])
        if old.bias is not None:
            new.bias.copy_(old.bias)
    model.conv1 = new
    return model
