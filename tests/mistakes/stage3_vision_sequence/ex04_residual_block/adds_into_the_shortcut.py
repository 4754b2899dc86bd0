"""Known mistake: the main path is added in place into the shortcut's output, which is x itself.

Expect: in place
"""

from __future__ import annotations

import torch
from torch import nn
from torch.nn import functional as F


class BasicBlock(nn.Module):
    """The basic residual block of ResNet-18/34: two 3x3 convolutions and a shortcut.

    ``out = relu(bn2(conv2(relu(bn1(conv1(x))))) + shortcut(x))``

    - ``conv1``: 3x3, ``in_channels -> out_channels``, ``stride``, padding 1, no bias;
    - ``bn1``, ``bn2``: ``nn.BatchNorm2d(out_channels)`` with default settings;
    - ``conv2``: 3x3, ``out_channels -> out_channels``, stride 1, padding 1, no bias;
    - ``shortcut``: an empty ``nn.Sequential()`` (identity) when ``stride == 1`` and
      ``in_channels == out_channels``; otherwise ``nn.Sequential(1x1 conv with stride,
      no bias; nn.BatchNorm2d(out_channels))``.
    """

    def __init__(self, in_channels: int, out_channels: int, stride: int = 1) -> None:
        """Build the layers under the documented names."""
        super().__init__()
        self.conv1 = nn.Conv2d(
            in_channels, out_channels, kernel_size=3, stride=stride, padding=1, bias=False
        )
        self.bn1 = nn.BatchNorm2d(out_channels)
        self.conv2 = nn.Conv2d(
            out_channels, out_channels, kernel_size=3, stride=1, padding=1, bias=False
        )
        self.bn2 = nn.BatchNorm2d(out_channels)
        self.shortcut = nn.Sequential()
        if stride != 1 or in_channels != out_channels:
            self.shortcut = nn.Sequential(
                nn.Conv2d(in_channels, out_channels, kernel_size=1, stride=stride, bias=False),
                nn.BatchNorm2d(out_channels),
            )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Map ``(N, in_channels, H, W)`` to ``(N, out_channels, H', W')``."""
        main = self.bn2(self.conv2(F.relu(self.bn1(self.conv1(x)))))
        out = self.shortcut(x)
        out += main  # with the identity shortcut, out IS x: this writes into the input
        return F.relu(out)
