"""Known mistake: merge_heads uses transpose_, changing its input in place.

Expect: changed its input x in place
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
    return x.permute(0, 2, 3, 1)


def flatten_features(x: torch.Tensor) -> torch.Tensor:
    """Flatten everything but the batch dim: ``(N, d1, d2, ...)`` to ``(N, d1 * d2 * ...)``.

    ``x`` has at least 2 dims and may be non-contiguous (for example the result
    of a ``permute`` or ``transpose``). Row ``n`` of the result lists ``x[n]``'s
    values in their logical order (the order ``x[n].flatten()`` gives), whatever
    the memory layout. The result has ``x``'s dtype and device; ``x`` is not modified.
    """
    return x.reshape(x.shape[0], -1)


def split_heads(x: torch.Tensor, num_heads: int) -> torch.Tensor:
    """Split the feature dim of ``x`` into attention heads.

    ``x`` has shape ``(B, T, D)``, is contiguous (as a Linear layer's output is),
    and ``num_heads`` divides ``D``; let ``Dh = D // num_heads``. Head ``h`` owns
    the features ``h * Dh`` to ``(h + 1) * Dh - 1`` of every position, so the
    result ``out`` of shape ``(B, num_heads, T, Dh)`` satisfies::

        out[b, h, t, k] == x[b, t, h * Dh + k]

    The result has ``x``'s dtype and device; ``x`` is not modified.
    """
    b, t, d = x.shape
    return x.view(b, t, num_heads, d // num_heads).transpose(1, 2)


def merge_heads(x: torch.Tensor) -> torch.Tensor:
    """Undo :func:`split_heads`: ``(B, H, T, Dh)`` back to ``(B, T, H * Dh)``.

    ``out[b, t, h * Dh + k] == x[b, h, t, k]``, so that
    ``merge_heads(split_heads(y, H))`` equals ``y``. ``x`` is usually
    non-contiguous (``split_heads`` returns a transposed view), and the result must
    be right either way. The result has ``x``'s dtype and device; ``x`` is not modified.
    """
    b, h, t, dh = x.shape
    return x.transpose_(1, 2).reshape(b, t, h * dh)
