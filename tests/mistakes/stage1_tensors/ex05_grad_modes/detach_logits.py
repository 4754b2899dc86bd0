"""Known mistake: frozen_feature_loss detaches the head's logits instead of the encoder's features, so nothing can be trained.

Expect: does not track gradients
"""

from __future__ import annotations

import torch
from torch import nn
from torch.nn import functional as F


def frozen_feature_loss(
    encoder: nn.Module, head: nn.Module, x: torch.Tensor, y: torch.Tensor
) -> torch.Tensor:
    logits = head(encoder(x)).detach()
    return F.cross_entropy(logits, y)
