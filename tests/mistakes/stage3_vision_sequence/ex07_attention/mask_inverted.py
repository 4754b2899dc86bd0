"""Known mistake: the bool mask is read with True meaning 'blocked' (inverted convention).

Expect: mask convention is inverted
"""

from __future__ import annotations

import math

import torch


def scaled_dot_product_attention(
    q: torch.Tensor,
    k: torch.Tensor,
    v: torch.Tensor,
    *,
    mask: torch.Tensor | None = None,
    causal: bool = False,
) -> tuple[torch.Tensor, torch.Tensor]:
    d_k = q.shape[-1]
    t_q, t_k = q.shape[-2], k.shape[-2]
    scores = q @ k.transpose(-2, -1) / math.sqrt(d_k)
    allowed = None
    if mask is not None:
        allowed = ~mask.to(device=q.device, dtype=torch.bool)
    if causal:
        tri = torch.ones(t_q, t_k, dtype=torch.bool, device=q.device).tril()
        allowed = tri if allowed is None else allowed & tri
    if allowed is None:
        weights = scores.softmax(dim=-1)
    else:
        allowed = allowed.expand(scores.shape)
        scores = scores.masked_fill(~allowed, float("-inf"))
        any_allowed = allowed.any(dim=-1, keepdim=True)
        # Rows with nothing allowed would be softmax(all -inf) = NaN: give them 0 scores
        # (a harmless finite softmax), then zero every blocked weight.
        scores = scores.masked_fill(~any_allowed, 0.0)
        weights = scores.softmax(dim=-1).masked_fill(~allowed, 0.0)
    return weights @ v, weights
