"""Known mistake: masked_scores fills the future with 0 instead of -inf.

Expect: expected -inf
"""

from __future__ import annotations

import torch


def masked_scores(scores: torch.Tensor) -> torch.Tensor:
    t = scores.shape[-1]
    return scores.masked_fill(causal_mask(t, scores.device), 0.0)
