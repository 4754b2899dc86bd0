"""Known mistake: shuffled_indices re-seeds the global RNG with torch.manual_seed before torch.randperm.

Expect: changed the state of torch's global RNG
"""

from __future__ import annotations

import torch


def shuffled_indices(n: int, seed: int) -> torch.Tensor:
    torch.manual_seed(seed)
    return torch.randperm(n)
