"""Known mistake: linear_probe seeds the RNG after building the layer, so its initial weights are not the seeded ones.

Expect: right after torch.manual_seed(seed)
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
    layer = nn.Linear(feats.shape[1], num_classes).to(device=feats.device, dtype=feats.dtype)
    torch.manual_seed(seed)
    optimizer = torch.optim.SGD(layer.parameters(), lr=lr)
    for _ in range(epochs):
        optimizer.zero_grad()
        loss = F.cross_entropy(layer(feats), labels)
        loss.backward()
        optimizer.step()
    return layer
