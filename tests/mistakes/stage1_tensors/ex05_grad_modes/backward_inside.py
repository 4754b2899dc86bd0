"""Known mistake: frozen_feature_loss calls loss.backward() itself before returning.

Expect: without calling backward
"""

from __future__ import annotations

import torch
from torch import nn
from torch.nn import functional as F


def frozen_feature_loss(
    encoder: nn.Module, head: nn.Module, x: torch.Tensor, y: torch.Tensor
) -> torch.Tensor:
    loss = F.cross_entropy(head(encoder(x).detach()), y)
    loss.backward()
    return loss
