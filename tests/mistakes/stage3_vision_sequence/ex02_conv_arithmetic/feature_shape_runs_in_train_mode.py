"""Known mistake: feature_shape runs the model as it is, so BatchNorm updates its running statistics.

Expect: running statistics
"""

from __future__ import annotations

import math

import torch
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
    span = dilation * (kernel - 1) + 1
    out = (size + 2 * padding - span) // stride + 1
    if out < 1:
        raise ValueError(
            f"a dilated kernel spanning {span} does not fit into {size} + 2 * {padding} inputs"
        )
    return out


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
    if stride is None:
        stride = kernel
    span = dilation * (kernel - 1) + 1
    numerator = size + 2 * padding - span
    out = (math.ceil(numerator / stride) if ceil_mode else numerator // stride) + 1
    if ceil_mode and (out - 1) * stride >= size + padding:
        out -= 1
    if out < 1:
        raise ValueError(f"a pooling window spanning {span} does not fit into {size} inputs")
    return out


def same_padding(kernel: int, dilation: int = 1) -> int:
    """Return the padding that keeps the spatial size unchanged under a stride-1 convolution.

    With ``padding = same_padding(k, d)``, ``nn.Conv2d(..., kernel_size=k, dilation=d,
    padding=padding)`` maps an ``H x W`` input to ``H x W`` for every ``H`` and ``W``. That
    needs an odd *effective* kernel size ``dilation * (kernel - 1) + 1`` (the span that the
    dilated kernel covers); raise ``ValueError`` when it is even, because no symmetric
    padding keeps the size then. Returns a Python ``int``.
    """
    grow = dilation * (kernel - 1)
    if grow % 2:
        raise ValueError(
            f"kernel={kernel}, dilation={dilation} spans {grow + 1} inputs, an even number: "
            "no symmetric padding keeps the size"
        )
    return grow // 2


def _pair(value: int | Sequence[int]) -> tuple[int, int]:
    if isinstance(value, int):
        return value, value
    first, second = value
    return int(first), int(second)


def feature_shape(model: nn.Sequential, input_shape) -> tuple[int, ...]:
    """Run the model on zeros (without protecting its BatchNorm statistics)."""
    device = next(model.parameters()).device
    with torch.no_grad():
        out = model(torch.zeros(tuple(input_shape), device=device))
    return tuple(out.shape)
