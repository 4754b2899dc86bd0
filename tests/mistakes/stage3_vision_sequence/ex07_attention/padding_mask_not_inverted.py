"""Known mistake: key_padding_mask (True = padding) is passed on as an attention mask without inverting it.

Expect: wrong way round
Expect: True marks PADDING
"""

from __future__ import annotations

import torch
from torch import nn


class MultiHeadSelfAttention(nn.Module):
    def __init__(self, d_model: int, n_heads: int) -> None:
        super().__init__()
        if d_model % n_heads:
            raise ValueError(f"d_model={d_model} is not divisible by n_heads={n_heads}")
        self.d_model = d_model
        self.n_heads = n_heads
        self.q_proj = nn.Linear(d_model, d_model)
        self.k_proj = nn.Linear(d_model, d_model)
        self.v_proj = nn.Linear(d_model, d_model)
        self.out_proj = nn.Linear(d_model, d_model)

    def forward(
        self, x: torch.Tensor, key_padding_mask: torch.Tensor | None = None
    ) -> torch.Tensor:
        b, t, _ = x.shape
        h, d_head = self.n_heads, self.d_model // self.n_heads

        def split(y: torch.Tensor) -> torch.Tensor:
            return y.reshape(b, t, h, d_head).transpose(1, 2)

        q, k, v = split(self.q_proj(x)), split(self.k_proj(x)), split(self.v_proj(x))
        mask = None
        if key_padding_mask is not None:
            mask = key_padding_mask.to(torch.bool)[:, None, None, :]
        out, _ = scaled_dot_product_attention(q, k, v, mask=mask)
        out = out.transpose(1, 2).reshape(b, t, self.d_model)
        return self.out_proj(out)
