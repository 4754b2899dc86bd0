"""Known mistake: linear_probe trains on the features as given, so gradients flow back into them (or into the graph they carry).

Expect: features.detach()
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
    torch.manual_seed(seed)
    layer = nn.Linear(features.shape[1], num_classes).to(
        device=features.device, dtype=features.dtype
    )
    optimizer = torch.optim.SGD(layer.parameters(), lr=lr)
    for _ in range(epochs):
        optimizer.zero_grad()
        loss = F.cross_entropy(layer(features), labels)
        loss.backward()
        optimizer.step()
    return layer
