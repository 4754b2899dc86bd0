"""Known mistake: the weights are computed by hand, but out comes from torch's own attention.

Expect: which this exercise asks you to write by hand
"""

from __future__ import annotations

import math

import torch
from torch.nn import functional as F


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
        return F.scaled_dot_product_attention(q, k, v), weights
    allowed = allowed.expand(scores.shape)
    scores = scores.masked_fill(~allowed, float("-inf"))
    any_allowed = allowed.any(dim=-1, keepdim=True)
    scores = scores.masked_fill(~any_allowed, 0.0)
    weights = scores.softmax(dim=-1).masked_fill(~allowed, 0.0)
    out = F.scaled_dot_product_attention(q, k, v, attn_mask=allowed).nan_to_num(0.0)
    return out, weights
