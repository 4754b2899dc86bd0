"""Known mistake: extract_with_fx runs under torch.inference_mode(), so it returns inference tensors a probe cannot train on.

Expect: inference tensor
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
        with torch.inference_mode():
            out = extractor(x)["features"]
            return torch.flatten(out, 1)
    finally:
        _restore_flags(model, flags)
