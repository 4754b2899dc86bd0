"""Known mistake: key_padding_mask (True = padding) is passed on as an attention mask without inverting it.

Expect: wrong way round
Expect: True marks PADDING
"""

from __future__ import annotations

import math

import torch
from torch import nn


def scaled_dot_product_attention(
    q: torch.Tensor,
    k: torch.Tensor,
    v: torch.Tensor,
    *,
    mask: torch.Tensor | None = None,
    causal: bool = False,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Attention by hand: ``weights = softmax(q @ k^T / sqrt(d_k))``, ``out = weights @ v``.

    Shapes (any number of leading batch dims, typically ``(B, H)``):
    ``q`` is ``(..., Tq, d_k)``, ``k`` is ``(..., Tk, d_k)``, ``v`` is ``(..., Tk, d_v)``.
    Returns ``(out, weights)`` with ``out`` ``(..., Tq, d_v)`` and ``weights``
    ``(..., Tq, Tk)``, both in q's dtype and on q's device. Inputs are not modified.

    - ``mask``: optional bool tensor broadcastable to ``(..., Tq, Tk)``; ``True`` means
      "query i may attend key j", ``False`` means "blocked" (the convention of a bool
      ``attn_mask`` in ``torch.nn.functional.scaled_dot_product_attention``).
      Blocked scores are set to ``-inf`` before the softmax, so their weight is exactly 0.
    - ``causal=True``: query ``i`` may attend only keys ``j <= i`` (lower triangle,
      aligned top-left as in ``is_causal=True``); combined with ``mask`` by logical and.
    - A query row with no allowed key at all gets weights all 0 and output all 0
      (never NaN).
    """
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
        any_allowed = allowed.any(dim=-1, keepdim=True)
        # Rows with nothing allowed would be softmax(all -inf) = NaN: give them 0 scores
        # (a harmless finite softmax), then zero every blocked weight.
        scores = scores.masked_fill(~any_allowed, 0.0)
        weights = scores.softmax(dim=-1).masked_fill(~allowed, 0.0)
    return weights @ v, weights


def sinusoidal_positions(
    T: int,
    d: int,
    *,
    device: torch.device | str | None = None,
    dtype: torch.dtype = torch.float32,
) -> torch.Tensor:
    """The sinusoidal position table of "Attention Is All You Need", shape ``(T, d)``.

    For position ``t`` and ``i = 0 .. d/2 - 1``, with ``w_i = 1 / 10000 ** (2 * i / d)``:
    ``P[t, 2*i] = sin(t * w_i)`` and ``P[t, 2*i + 1] = cos(t * w_i)``.
    ``d`` is even. Computed in ``dtype`` on ``device``.
    """
    pos = torch.arange(T, device=device, dtype=dtype).unsqueeze(1)
    two_i = torch.arange(0, d, 2, device=device, dtype=dtype)
    freq = torch.exp(two_i * (-math.log(10000.0) / d))
    angles = pos * freq
    table = torch.empty(T, d, device=device, dtype=dtype)
    table[:, 0::2] = torch.sin(angles)
    table[:, 1::2] = torch.cos(angles)
    return table


class MultiHeadSelfAttention(nn.Module):
    """Multi-head self-attention built on :func:`scaled_dot_product_attention`."""

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
        """``x`` ``(B, T, d_model)`` -> ``(B, T, d_model)``; ``True`` in the mask = padding."""
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


class PreNormEncoderBlock(nn.Module):
    """A pre-norm transformer encoder block."""

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
        """``x + attn(norm1(x))``, then ``+ ff(norm2(.))``; shape ``(B, T, d_model)``."""
        x = x + self.dropout(self.attn(self.norm1(x), key_padding_mask))
        return x + self.dropout(self.ff(self.norm2(x)))
