"""Known mistake: pool_output_size treats stride=None as stride 1, as for a convolution.

Expect: stride=None means stride = kernel
"""

from __future__ import annotations

import math
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
        stride = 1
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
    shape = tuple(int(s) for s in input_shape)
    for layer in model:
        if isinstance(layer, nn.Conv2d):
            n, _, h, w = shape
            kh, kw = _pair(layer.kernel_size)
            dh, dw = _pair(layer.dilation)
            if layer.padding == "same":
                shape = (n, layer.out_channels, h, w)
                continue
            ph, pw = (0, 0) if layer.padding == "valid" else _pair(layer.padding)
            sh, sw = _pair(layer.stride)
            shape = (
                n,
                layer.out_channels,
                conv2d_output_size(h, kh, sh, ph, dh),
                conv2d_output_size(w, kw, sw, pw, dw),
            )
        elif isinstance(layer, nn.MaxPool2d):
            n, c, h, w = shape
            kh, kw = _pair(layer.kernel_size)
            sh, sw = _pair(layer.stride if layer.stride is not None else layer.kernel_size)
            ph, pw = _pair(layer.padding)
            dh, dw = _pair(layer.dilation)
            shape = (
                n,
                c,
                pool_output_size(h, kh, sh, ph, dh, layer.ceil_mode),
                pool_output_size(w, kw, sw, pw, dw, layer.ceil_mode),
            )
        elif isinstance(layer, nn.Flatten):
            start = layer.start_dim % len(shape)
            end = layer.end_dim % len(shape)
            shape = (*shape[:start], math.prod(shape[start : end + 1]), *shape[end + 1 :])
        elif isinstance(layer, nn.Linear):
            shape = (*shape[:-1], layer.out_features)
    return shape
