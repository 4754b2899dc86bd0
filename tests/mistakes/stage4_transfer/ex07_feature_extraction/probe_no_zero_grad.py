"""Known mistake: linear_probe never clears the gradients, so every step adds all earlier ones.

Expect: zero_grad
"""

from __future__ import annotations

import torch
from torch import nn
from torch.nn import functional as F


def linear_probe(
    features: torch.Tensor,
    labels: torch.Tensor,
    num_classes: int,
    *,
    epochs: int = 100,
    lr: float = 0.1,
    seed: int = 0,
) -> nn.Linear:
    feats = features.detach()
    torch.manual_seed(seed)
    layer = nn.Linear(feats.shape[1], num_classes).to(device=feats.device, dtype=feats.dtype)
    optimizer = torch.optim.SGD(layer.parameters(), lr=lr)
    for _ in range(epochs):
        loss = F.cross_entropy(layer(feats), labels)
        loss.backward()
        optimizer.step()
    return layer
