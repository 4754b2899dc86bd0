"""Known mistake: extract_with_fx returns the node's output as it is, (N, C, h, w), not flattened per sample.

Expect: torch.flatten(out, 1)
"""

from __future__ import annotations

import torch
from torch import nn
from torchvision.models.feature_extraction import create_feature_extractor


def extract_with_fx(model: nn.Module, x: torch.Tensor, node: str = "avgpool") -> torch.Tensor:
    flags = _training_flags(model)
    try:
        extractor = create_feature_extractor(model, return_nodes={node: "features"})
        extractor.eval()
        with torch.no_grad():
            return extractor(x)["features"]
    finally:
        _restore_flags(model, flags)
