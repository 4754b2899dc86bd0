"""Known mistake: flatten_features uses view, which fails on non-contiguous inputs.

Expect: view size is not compatible
Expect: flatten_features
"""

from __future__ import annotations

import torch


def flatten_features(x: torch.Tensor) -> torch.Tensor:
    return x.view(x.shape[0], -1)
