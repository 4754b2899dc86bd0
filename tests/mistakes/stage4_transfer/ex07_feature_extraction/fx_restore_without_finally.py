"""Known mistake: extract_with_fx restores the training flags after a successful run only, so the ValueError of an unknown node leaves them flattened.

Expect: which raised ValueError
Expect: own training flag back
"""

from __future__ import annotations

import torch
from torch import nn
from torchvision.models.feature_extraction import create_feature_extractor


def extract_with_fx(model: nn.Module, x: torch.Tensor, node: str = "avgpool") -> torch.Tensor:
    flags = _training_flags(model)
    extractor = create_feature_extractor(model, return_nodes={node: "features"})
    extractor.eval()
    with torch.no_grad():
        out = extractor(x)["features"]
    _restore_flags(model, flags)
    return torch.flatten(out, 1)
