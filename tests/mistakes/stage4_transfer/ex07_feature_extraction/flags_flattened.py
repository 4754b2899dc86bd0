"""Known mistake: extract_with_fx remembers only model.training and restores it with model.train(was_training), which sets every submodule alike.

Expect: own training flag back
Expect: model.train(was_training) sets them all alike
"""

from __future__ import annotations

import torch
from torch import nn
from torchvision.models.feature_extraction import create_feature_extractor


def extract_with_fx(model: nn.Module, x: torch.Tensor, node: str = "avgpool") -> torch.Tensor:
    was_training = model.training
    try:
        extractor = create_feature_extractor(model, return_nodes={node: "features"})
        extractor.eval()
        with torch.no_grad():
            out = extractor(x)["features"]
        return torch.flatten(out, 1)
    finally:
        model.train(was_training)
