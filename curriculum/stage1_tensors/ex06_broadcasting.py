"""1.6 Broadcasting: per-channel normalisation and causal masks.

Implement the four functions below, then run ``make check ex=1.6``.
The lesson is in README.md next to this file.
"""

from __future__ import annotations

import torch


def channel_stats(x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Per-channel mean and standard deviation of a batch of images.

    ``x`` has shape ``(N, C, H, W)`` and a floating dtype. Every channel ``c`` is
    summarised over all of its ``N * H * W`` values (every image, every pixel).

    Returns ``(mean, std)``, two tensors of shape ``(C,)`` with ``x``'s dtype and
    device. ``std`` is the *population* standard deviation: divide by ``n``, not
    ``n - 1`` (``correction=0``, formerly ``unbiased=False``). ``x`` is not modified.
    """
    # TODO(1.6): Reduce over every dim except the channels; population std.
    raise NotImplementedError("1.6: channel_stats")


def normalize_per_channel(
    x: torch.Tensor, mean: torch.Tensor, std: torch.Tensor, eps: float = 1e-6
) -> torch.Tensor:
    """Normalise each channel of ``x``: ``(x - mean[c]) / (std[c] + eps)``.

    - ``x``: shape ``(N, C, H, W)``, a floating dtype;
    - ``mean``, ``std``: shape ``(C,)``, on ``x``'s device (their dtype may differ
      from ``x``'s, e.g. float64 statistics for a float32 batch);
    - ``eps``: added to ``std`` so that a constant channel (std 0) gives 0, not NaN.

    Returns a new tensor of shape ``(N, C, H, W)`` with ``x``'s dtype and device.
    ``x``, ``mean`` and ``std`` are not modified.
    """
    # TODO(1.6): Reshape mean and std so they line up with the channel dim of x.
    raise NotImplementedError("1.6: normalize_per_channel")


def causal_mask(t: int, device: str | torch.device) -> torch.Tensor:
    """The causal attention mask for a sequence of length ``t``.

    Returns a ``torch.bool`` tensor of shape ``(t, t)`` on ``device`` where
    ``mask[i, j]`` is True exactly when ``j > i``: key ``j`` lies in the future of
    query ``i`` and must be hidden. The diagonal (a position attending to itself)
    and everything below it are False.
    """
    # TODO(1.6): One boolean (t, t) tensor on device; True strictly above the diagonal.
    raise NotImplementedError("1.6: causal_mask")


def masked_scores(scores: torch.Tensor) -> torch.Tensor:
    """Hide the future in attention scores before the softmax.

    ``scores`` has shape ``(..., T, T)`` (any number of leading batch / head dims):
    ``scores[..., i, j]`` is how much query ``i`` attends to key ``j``.

    Returns a new tensor of the same shape, dtype and device where every future
    position (``j > i``) holds ``float('-inf')`` and every other position keeps its
    score, so that ``softmax(result, dim=-1)`` gives the future zero weight. ``scores``
    is not modified.
    """
    # TODO(1.6): Build the mask for T on scores.device and fill it with -inf.
    raise NotImplementedError("1.6: masked_scores")
