"""Known mistake: frozen_feature_loss freezes the encoder by switching its parameters' requires_grad off for good.

Expect: requires_grad
"""

from __future__ import annotations

import torch
from torch import nn
from torch.nn import functional as F


def frozen_feature_loss(
    encoder: nn.Module, head: nn.Module, x: torch.Tensor, y: torch.Tensor
) -> torch.Tensor:
    for p in encoder.parameters():
        p.requires_grad_(False)
    return F.cross_entropy(head(encoder(x)), y)
