"""3.1 An image pipeline with transforms.v2.

Implement the three functions below, then run ``make check ex=3.1``.
The lesson is in README.md next to this file.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torchvision.transforms import v2


def channel_stats(images: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Per-channel mean and population std of a batch of images, on the [0, 1] scale.

    ``images`` is ``(N, C, H, W)``, either ``uint8`` with values 0..255 or floating point
    with values already in [0, 1]. The statistics are those of the pixels as the pipelines
    below see them after ``v2.ToDtype(torch.float32, scale=True)``: ``uint8`` values are
    divided by 255 first, floating-point values are used as they are.

    Returns ``(mean, std)``, each of shape ``(C,)``: one value per channel over all N
    images and all H x W pixels, ``std`` the population std (divide by ``N * H * W``, not
    ``N * H * W - 1``). Both are float32 for ``uint8`` input and have ``images``' dtype for
    floating-point input, on ``images``' device. ``images`` is not modified.
    """
    # TODO(3.1): Scale uint8 to [0, 1], then reduce every dim except the channels.
    raise NotImplementedError("3.1: channel_stats")


def make_train_transform(
    mean: Sequence[float] | torch.Tensor, std: Sequence[float] | torch.Tensor, *, size: int
) -> v2.Compose:
    """Build the training pipeline: random crop and flip, then scale to [0, 1] and normalise.

    ``mean`` and ``std`` hold one value per channel (a list, a tuple, or a ``(C,)`` tensor
    such as :func:`channel_stats` returns), on the [0, 1] scale.

    The returned ``v2.Compose`` takes one image: a ``(C, H, W)`` tensor with ``H, W >= size``
    that is either ``uint8`` (0..255) or floating point (in [0, 1]), on any device. It
    returns a float32 ``(C, size, size)`` tensor on the same device (a tensor subclass such
    as the ``tv_tensors.Image`` of a pipeline that starts with ``v2.ToImage()`` is accepted,
    and graded as the plain tensor it holds), in this order:

    1. random geometric augmentation only: a random ``size x size`` crop
       (``v2.RandomResizedCrop(size, scale=(0.5, 1.0))``, or ``v2.RandomCrop(size,
       padding=p)`` with ``p <= size // 4``), then
       ``v2.RandomHorizontalFlip()``. No colour changes: a uniformly coloured image must
       still be that colour in the middle of the crop;
    2. ``v2.ToDtype(torch.float32, scale=True)``: ``uint8`` 0..255 becomes [0, 1];
    3. ``v2.Normalize(mean, std)``: ``(x - mean[c]) / std[c]`` per channel, with the given
       statistics.

    Every random choice comes from torch's global RNG (v2's random transforms draw from
    it), so two calls give different results, and ``torch.manual_seed(s)`` before a call
    makes it reproducible. The input image is not modified.
    """
    # TODO(3.1): v2.Compose([random crop, random flip, ToDtype(scale=True), Normalize]).
    raise NotImplementedError("3.1: make_train_transform")


def make_eval_transform(
    mean: Sequence[float] | torch.Tensor, std: Sequence[float] | torch.Tensor, *, size: int
) -> v2.Compose:
    """Build the evaluation pipeline: deterministic resize and centre crop, scale, normalise.

    Same inputs and outputs as :func:`make_train_transform` (any ``H, W >= 1`` here; a
    ``tv_tensors.Image`` is accepted as the plain tensor it holds), but no randomness at
    all, in this order:

    1. ``v2.Resize(size)``: the *shorter* side becomes ``size`` and the aspect ratio is kept
       (bilinear with antialiasing, v2's defaults);
    2. ``v2.CenterCrop(size)``: the middle ``size x size`` square;
    3. ``v2.ToDtype(torch.float32, scale=True)``;
    4. ``v2.Normalize(mean, std)``.

    The same image always gives the same output, whatever the RNG state. The input image is
    not modified (beware ``Normalize(..., inplace=True)``).
    """
    # TODO(3.1): v2.Compose([Resize, CenterCrop, ToDtype(scale=True), Normalize]).
    raise NotImplementedError("3.1: make_eval_transform")
