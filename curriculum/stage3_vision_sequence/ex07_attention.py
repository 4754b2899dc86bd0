"""3.7 Scaled dot-product attention and a transformer block.

Write scaled_dot_product_attention, sinusoidal_positions, MultiHeadSelfAttention and
PreNormEncoderBlock below, then run ``make check ex=3.7``.
The lesson is in README.md next to this file.
"""

from __future__ import annotations

import math  # noqa: F401  (math.sqrt, math.log are handy)

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
    ``d_k`` is the last dim of q and k (per head, not the model width).
    Returns ``(out, weights)``: ``out`` is ``(..., Tq, d_v)`` and ``weights`` is
    ``(..., Tq, Tk)``, both in q's dtype and on q's device. Row ``i`` of ``weights``
    is the distribution of query ``i`` over the keys (the softmax runs over the key dim).
    Inputs are not modified. Do not call ``torch.nn.functional.scaled_dot_product_attention``.

    - ``mask``: optional bool tensor broadcastable to ``(..., Tq, Tk)``. ``True`` means
      "query i may attend key j", ``False`` means "blocked": the convention of a bool
      ``attn_mask`` in ``torch.nn.functional.scaled_dot_product_attention``.
      Set blocked scores to ``-inf`` before the softmax, so their weight is exactly 0.
    - ``causal=True``: query ``i`` may attend only keys ``j <= i`` (the lower triangle,
      aligned top-left like ``is_causal=True``); combined with ``mask`` by logical and.
    - A query row with no allowed key at all (fully masked) must not give NaN: its
      weights are all 0 and its output row is all 0.
    """
    # TODO(3.7): Scores, scale by sqrt(d_k), block with -inf, softmax over keys, guard empty rows.
    raise NotImplementedError("3.7: scaled_dot_product_attention")


def sinusoidal_positions(
    T: int,
    d: int,
    *,
    device: torch.device | str | None = None,
    dtype: torch.dtype = torch.float32,
) -> torch.Tensor:
    """The sinusoidal position table of "Attention Is All You Need", shape ``(T, d)``.

    For position ``t = 0 .. T-1`` and ``i = 0 .. d/2 - 1``, with frequency
    ``w_i = 1 / 10000 ** (2 * i / d)``:

    - ``P[t, 2*i] = sin(t * w_i)`` (even columns),
    - ``P[t, 2*i + 1] = cos(t * w_i)`` (odd columns, the same frequency as the column before).

    ``d`` is even. Compute in ``dtype`` on ``device`` from the start (a float32 table
    cast to float64 afterwards is not precise enough).
    """
    # TODO(3.7): Build the angles t * w_i as a (T, d/2) table, then fill even/odd columns.
    raise NotImplementedError("3.7: sinusoidal_positions")


class MultiHeadSelfAttention(nn.Module):
    """Multi-head self-attention built on :func:`scaled_dot_product_attention`.

    ``__init__(d_model, n_heads)`` (``d_model`` divisible by ``n_heads``) creates four
    ``nn.Linear(d_model, d_model)`` layers (with bias) named ``q_proj``, ``k_proj``,
    ``v_proj`` and ``out_proj``, and no other parameters. The grader loads a reference's
    weights into yours with ``load_state_dict(..., strict=True)``.

    ``forward(x, key_padding_mask=None)``: ``x`` is ``(B, T, d_model)``; returns
    ``(B, T, d_model)``. Project x to q, k, v; split the last dim into ``n_heads``
    heads of ``d_head = d_model // n_heads`` (head ``h`` uses features
    ``h*d_head .. (h+1)*d_head - 1``), giving ``(B, n_heads, T, d_head)``; attend per
    head; put the heads back side by side to ``(B, T, d_model)``; apply ``out_proj``.

    ``key_padding_mask``: optional bool ``(B, T)`` where ``True`` marks a PADDING
    position that no query may attend (the convention of ``nn.MultiheadAttention`` and
    ``nn.TransformerEncoderLayer``; note it is the opposite of ``mask`` above).
    """

    def __init__(self, d_model: int, n_heads: int) -> None:
        super().__init__()
        # TODO(3.7): Store the sizes and create q_proj, k_proj, v_proj, out_proj.
        raise NotImplementedError("3.7: MultiHeadSelfAttention.__init__")

    def forward(
        self, x: torch.Tensor, key_padding_mask: torch.Tensor | None = None
    ) -> torch.Tensor:
        """``(B, T, d_model)`` -> ``(B, T, d_model)``; ``True`` in key_padding_mask = padding."""
        # TODO(3.7): Project, split heads, convert the padding mask, attend, merge heads.
        raise NotImplementedError("3.7: MultiHeadSelfAttention.forward")


class PreNormEncoderBlock(nn.Module):
    """A pre-norm transformer encoder block (as in GPT-2 and most modern transformers).

    ``__init__(d_model, n_heads, d_ff, dropout=0.0)`` creates, with exactly these names:

    - ``self.norm1``, ``self.norm2``: ``nn.LayerNorm(d_model)`` (default eps);
    - ``self.attn``: ``MultiHeadSelfAttention(d_model, n_heads)``;
    - ``self.ff``: ``nn.Sequential(nn.Linear(d_model, d_ff), nn.GELU(),
      nn.Linear(d_ff, d_model))``;
    - ``self.dropout``: ``nn.Dropout(dropout)``, applied to each sublayer's output just
      before its residual add (a no-op in eval mode or with ``dropout=0``). In train mode
      the grader compares your output with a correct block's after the same
      ``torch.manual_seed``, so draw no other random numbers: exactly these two dropout
      calls, the attention's output first.

    ``forward(x, key_padding_mask=None)`` with ``x`` ``(B, T, d_model)``:
    ``h = x + attn(norm1(x), key_padding_mask)``, then ``out = h + ff(norm2(h))``.
    The normalisation comes BEFORE each sublayer (pre-norm), and the residual path
    ``x -> h -> out`` is never normalised. ``key_padding_mask`` as in
    :class:`MultiHeadSelfAttention` (``True`` = padding).
    """

    def __init__(self, d_model: int, n_heads: int, d_ff: int, dropout: float = 0.0) -> None:
        super().__init__()
        # TODO(3.7): Create norm1, attn, norm2, ff and dropout with the names above.
        raise NotImplementedError("3.7: PreNormEncoderBlock.__init__")

    def forward(
        self, x: torch.Tensor, key_padding_mask: torch.Tensor | None = None
    ) -> torch.Tensor:
        """``x + attn(norm1(x))``, then ``+ ff(norm2(.))``; shape ``(B, T, d_model)``."""
        # TODO(3.7): Two residual sublayers, each normalising its input first.
        raise NotImplementedError("3.7: PreNormEncoderBlock.forward")
