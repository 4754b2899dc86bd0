"""Known mistake: flatten_features is written for 4-D inputs only.

Expect: flatten_features
"""

from __future__ import annotations

import torch


def flatten_features(x: torch.Tensor) -> torch.Tensor:
    return x.reshape(x.shape[0], x.shape[1] * x.shape[2] * x.shape[3])
