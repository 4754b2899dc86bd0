"""Known mistake: masked_scores always builds its mask on the cpu, not on the scores' device.

Expect: Create the mask on scores.device
"""

from __future__ import annotations

import torch


def masked_scores(scores: torch.Tensor) -> torch.Tensor:
    t = scores.shape[-1]
    return scores.masked_fill(causal_mask(t, "cpu"), float("-inf"))
