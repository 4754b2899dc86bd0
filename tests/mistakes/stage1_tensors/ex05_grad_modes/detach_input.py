"""Known mistake: frozen_feature_loss detaches the input x instead of the encoder's output.

Expect: detach the encoder's output
"""

from __future__ import annotations

import torch
from torch import nn
from torch.nn import functional as F


def frozen_feature_loss(
    encoder: nn.Module, head: nn.Module, x: torch.Tensor, y: torch.Tensor
) -> torch.Tensor:
    features = encoder(x.detach())
    return F.cross_entropy(head(features), y)
