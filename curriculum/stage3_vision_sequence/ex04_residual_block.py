"""3.4 A ResNet basic block with a projection shortcut.

Write BasicBlock.__init__ and BasicBlock.forward below, then run ``make check ex=3.4``.
The lesson is in README.md next to this file.
"""

from __future__ import annotations

import torch
from torch import nn
from torch.nn import functional as F  # noqa: F401  (F.relu is handy in forward)


class BasicBlock(nn.Module):
    """The basic residual block of ResNet-18/34: two 3x3 convolutions and a shortcut.

    ``out = relu(bn2(conv2(relu(bn1(conv1(x))))) + shortcut(x))``

    The grader copies a reference block's weights into yours with
    ``load_state_dict(..., strict=True)``, so the attribute names and layer settings
    below are part of the contract:

    - ``self.conv1``: ``nn.Conv2d(in_channels, out_channels, 3, stride=stride, padding=1,
      bias=False)``; the only place in the main path that downsamples;
    - ``self.bn1``: ``nn.BatchNorm2d(out_channels)`` (default eps and momentum);
    - ``self.conv2``: ``nn.Conv2d(out_channels, out_channels, 3, stride=1, padding=1,
      bias=False)``;
    - ``self.bn2``: ``nn.BatchNorm2d(out_channels)``;
    - ``self.shortcut``: an ``nn.Sequential``. When ``stride == 1`` and
      ``in_channels == out_channels`` it is empty, ``nn.Sequential()``, which returns its
      input unchanged and has no parameters. Otherwise (the stride, the channel count, or
      both change) it is a projection: ``nn.Sequential(nn.Conv2d(in_channels, out_channels,
      1, stride=stride, bias=False), nn.BatchNorm2d(out_channels))``, so its
      ``state_dict`` keys are ``shortcut.0.weight``, ``shortcut.1.weight``, … .

    A convolution that feeds a BatchNorm has no bias: BatchNorm subtracts the mean, which
    would cancel it, and adds its own shift. The ReLU at the end comes after the addition.
    """

    def __init__(self, in_channels: int, out_channels: int, stride: int = 1) -> None:
        """Build ``conv1``, ``bn1``, ``conv2``, ``bn2`` and ``shortcut`` as documented above.

        Args:
            in_channels: channels of the input ``x``.
            out_channels: channels of the output.
            stride: 1 keeps the spatial size; 2 halves it (rounding up), in ``conv1`` and in
                the projection shortcut alike.
        """
        super().__init__()
        # TODO(3.4): Build the four layers and the shortcut (empty, or 1x1 conv + BatchNorm).
        raise NotImplementedError("3.4: BasicBlock.__init__")

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Apply the block to ``x`` of shape ``(N, in_channels, H, W)``.

        Returns ``relu(main(x) + shortcut(x))`` of shape ``(N, out_channels, H', W')`` with
        ``H' = (H - 1) // stride + 1`` and ``W' = (W - 1) // stride + 1``, in ``x``'s dtype
        and on ``x``'s device. Works in train mode (BatchNorm uses the batch statistics) and
        in eval mode (running statistics). Gradients reach ``x`` through both paths, and
        ``x`` itself is not modified.
        """
        # TODO(3.4): main path conv1 -> bn1 -> relu -> conv2 -> bn2; add the shortcut; then relu.
        raise NotImplementedError("3.4: BasicBlock.forward")
