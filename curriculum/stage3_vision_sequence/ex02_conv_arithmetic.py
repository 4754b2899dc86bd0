"""3.2 Convolution arithmetic.

Implement the four functions below, then run ``make check ex=3.2``.
The lesson is in README.md next to this file.
"""

from __future__ import annotations

import math  # noqa: F401  (math.floor, math.ceil, math.prod)
from collections.abc import Sequence

from torch import nn


def conv2d_output_size(
    size: int, kernel: int, stride: int = 1, padding: int = 0, dilation: int = 1
) -> int:
    """Return the length of one spatial dim after ``nn.Conv2d``, computed without running it.

    ``size`` is the input length along that dim (height or width), and ``kernel``,
    ``stride``, ``padding`` and ``dilation`` are that dim's settings, as you would pass them
    to ``nn.Conv2d`` (``padding`` zeros are added on *each* side). All are Python ints with
    ``size >= 1``, ``kernel >= 1``, ``stride >= 1``, ``padding >= 0``, ``dilation >= 1``.

    Returns a Python ``int >= 1``: exactly the size ``nn.Conv2d`` produces. Raises
    ``ValueError`` when the dilated kernel does not fit into the padded input (the output
    would be empty; ``nn.Conv2d`` raises an error there too).
    """
    # TODO(3.2): Count the window positions: the span is dilation * (kernel - 1) + 1.
    raise NotImplementedError("3.2: conv2d_output_size")


def pool_output_size(
    size: int,
    kernel: int,
    stride: int | None = None,
    padding: int = 0,
    dilation: int = 1,
    ceil_mode: bool = False,
) -> int:
    """Return the length of one spatial dim after ``nn.MaxPool2d``, computed without running it.

    Arguments as for :func:`conv2d_output_size`, with two differences that ``nn.MaxPool2d``
    has: ``stride=None`` means ``stride = kernel`` (pooling windows do not overlap by
    default), and ``ceil_mode=True`` rounds the division up instead of down, so a last,
    partial window is kept, except that a window starting in the right-hand padding
    (that is, ``(out - 1) * stride >= size + padding``) is dropped again. Inputs are valid
    for ``nn.MaxPool2d`` (``padding <= kernel // 2``).

    Returns a Python ``int >= 1``; raises ``ValueError`` when the output would be empty.
    """
    # TODO(3.2): As for a convolution; mind the stride default and ceil_mode.
    raise NotImplementedError("3.2: pool_output_size")


def same_padding(kernel: int, dilation: int = 1) -> int:
    """Return the padding that keeps the spatial size unchanged under a stride-1 convolution.

    With ``padding = same_padding(k, d)``, ``nn.Conv2d(..., kernel_size=k, dilation=d,
    padding=padding)`` maps an ``H x W`` input to ``H x W`` for every ``H`` and ``W``. That
    needs an odd *effective* kernel size ``dilation * (kernel - 1) + 1`` (the span that the
    dilated kernel covers); raise ``ValueError`` when it is even, because no symmetric
    padding keeps the size then. Returns a Python ``int``.
    """
    # TODO(3.2): Pad each side by half of what the dilated kernel takes away.
    raise NotImplementedError("3.2: same_padding")


def feature_shape(model: nn.Sequential, input_shape: Sequence[int]) -> tuple[int, ...]:
    """Return the shape that ``model`` gives for an input of shape ``input_shape``.

    ``input_shape`` is ``(N, C, H, W)``. ``model`` is an ``nn.Sequential`` (on any device)
    of these layers, valid for that input:

    - ``nn.Conv2d`` with int or tuple ``kernel_size``/``stride``/``padding``/``dilation``,
      and ``padding`` also ``"same"`` or ``"valid"``;
    - ``nn.MaxPool2d`` with int or tuple settings, ``ceil_mode`` True or False;
    - ``nn.Flatten()`` with its defaults (``start_dim=1``), then ``nn.Linear``;
    - layers that keep the shape: activations such as ``nn.ReLU``, ``nn.BatchNorm2d``,
      ``nn.Dropout``.

    Returns a tuple of Python ints, e.g. ``(N, C', H', W')`` or ``(N, features)``. You may
    compute it with the formulas above, or run the model on a zero tensor of
    ``input_shape``; either way the model must come back unchanged: the same parameters,
    buffers (BatchNorm's running statistics!), train/eval mode, device, and no ``.grad``.
    """
    # TODO(3.2): Walk the layers, updating (N, C, H, W) (or run a copy of the model).
    raise NotImplementedError("3.2: feature_shape")
