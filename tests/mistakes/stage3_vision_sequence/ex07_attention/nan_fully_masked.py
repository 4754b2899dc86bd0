"""Known mistake: masked scores get -inf and nothing guards a row with no allowed key, so softmax gives NaN.

Expect: NaN
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
        allowed = mask.to(device=q.device, dtype=torch.bool)
    if causal:
        tri = torch.ones(t_q, t_k, dtype=torch.bool, device=q.device).tril()
        allowed = tri if allowed is None else allowed & tri
    if allowed is None:
        weights = scores.softmax(dim=-1)
    else:
        allowed = allowed.expand(scores.shape)
        scores = scores.masked_fill(~allowed, float("-inf"))
        weights = scores.softmax(dim=-1)
    return weights @ v, weights
