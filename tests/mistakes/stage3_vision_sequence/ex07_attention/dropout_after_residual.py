"""Known mistake: dropout is applied to the sum, after the residual add, not to the sublayer.

Expect: differs from a correct block's under the same seed
"""

from __future__ import annotations

import torch
from torch import nn


class PreNormEncoderBlock(nn.Module):
    def __init__(self, d_model: int, n_heads: int, d_ff: int, dropout: float = 0.0) -> None:
        super().__init__()
        self.norm1 = nn.LayerNorm(d_model)
        self.attn = MultiHeadSelfAttention(d_model, n_heads)
        self.norm2 = nn.LayerNorm(d_model)
        self.ff = nn.Sequential(nn.Linear(d_model, d_ff), nn.GELU(), nn.Linear(d_ff, d_model))
        self.dropout = nn.Dropout(dropout)

    def forward(
        self, x: torch.Tensor, key_padding_mask: torch.Tensor | None = None
    ) -> torch.Tensor:
        x = self.dropout(x + self.attn(self.norm1(x), key_padding_mask))
        return self.dropout(x + self.ff(self.norm2(x)))
