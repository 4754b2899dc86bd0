"""1.7 view, reshape, permute and contiguity.

Implement the four functions below, then run ``make check ex=1.7``.
The lesson is in README.md next to this file.
"""

from __future__ import annotations

import torch


def to_channels_last(x: torch.Tensor) -> torch.Tensor:
    """Reorder a batch of images from ``(N, C, H, W)`` to ``(N, H, W, C)``.

    ``out[n, h, w, c]`` must equal ``x[n, c, h, w]``: the channels *move*, each
    value keeps its (image, row, column, channel) coordinates. Any dtype; the
    result has ``x``'s dtype and device. Returning a view that shares ``x``'s
    memory is fine; ``x`` itself must not change.
    """
    # TODO(1.7): Move the channel dim to the end without changing any value's coordinates.
    raise NotImplementedError("1.7: to_channels_last")


def flatten_features(x: torch.Tensor) -> torch.Tensor:
    """Flatten everything but the batch dim: ``(N, d1, d2, ...)`` to ``(N, d1 * d2 * ...)``.

    ``x`` has at least 2 dims and may be non-contiguous (for example the result
    of a ``permute`` or ``transpose``). Row ``n`` of the result lists ``x[n]``'s
    values in their logical order (the order ``x[n].flatten()`` gives), whatever
    the memory layout. The result has ``x``'s dtype and device; ``x`` is not modified.
    """
    # TODO(1.7): Keep dim 0, flatten the rest; it must work on non-contiguous tensors too.
    raise NotImplementedError("1.7: flatten_features")


def split_heads(x: torch.Tensor, num_heads: int) -> torch.Tensor:
    """Split the feature dim of ``x`` into attention heads.

    ``x`` has shape ``(B, T, D)``, is contiguous (as a Linear layer's output is),
    and ``num_heads`` divides ``D``; let ``Dh = D // num_heads``. Head ``h`` owns
    the features ``h * Dh`` to ``(h + 1) * Dh - 1`` of every position, so the
    result ``out`` of shape ``(B, num_heads, T, Dh)`` satisfies::

        out[b, h, t, k] == x[b, t, h * Dh + k]

    The result has ``x``'s dtype and device; ``x`` is not modified.
    """
    # TODO(1.7): Split D into (num_heads, Dh) first, then bring the head dim forward.
    raise NotImplementedError("1.7: split_heads")


def merge_heads(x: torch.Tensor) -> torch.Tensor:
    """Undo :func:`split_heads`: ``(B, H, T, Dh)`` back to ``(B, T, H * Dh)``.

    ``out[b, t, h * Dh + k] == x[b, h, t, k]``, so that
    ``merge_heads(split_heads(y, H))`` equals ``y``. ``x`` may be contiguous (as
    the output of ``attn @ v`` is) or a transposed view (as ``split_heads``
    returns); the result must be right either way. The result has ``x``'s dtype
    and device; ``x`` is not modified.
    """
    # TODO(1.7): Put T back in front of the heads, then merge (H, Dh); mind contiguity.
    raise NotImplementedError("1.7: merge_heads")
