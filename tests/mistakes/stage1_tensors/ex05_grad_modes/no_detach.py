"""Known mistake: frozen_feature_loss never cuts the graph, so gradients reach the encoder.

Expect: encoder's
"""

from __future__ import annotations

import torch
from torch import nn
from torch.nn import functional as F


def frozen_feature_loss(
    encoder: nn.Module, head: nn.Module, x: torch.Tensor, y: torch.Tensor
) -> torch.Tensor:
    features = encoder(x)
    return F.cross_entropy(head(features), y)
