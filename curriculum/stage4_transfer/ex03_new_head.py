"""4.3 Model surgery: a new head and a one-channel stem.

Write replace_head and adapt_first_conv below, then run ``make check ex=4.3``.
The lesson is in README.md next to this file.
"""

from __future__ import annotations

import torch  # noqa: F401  (torch.no_grad)
from torch import nn


def replace_head(model: nn.Module, num_classes: int, *, dropout: float = 0.0) -> nn.Module:
    """Replace ``model.fc`` by a freshly initialised head with ``num_classes`` outputs.

    The old head ``model.fc`` is an ``nn.Linear``, or an ``nn.Sequential`` whose last layer
    is an ``nn.Linear`` (what this function builds with ``dropout > 0``, so it can be called
    again). Its ``in_features`` (read from that Linear, never hard-coded) is the new head's.

    The new linear layer is ``nn.Linear(in_features, num_classes)`` (with a bias) whose
    weight is drawn with ``nn.init.kaiming_normal_(weight, mode="fan_in",
    nonlinearity="relu")`` (normal, mean 0, std ``sqrt(2 / in_features)``; the grader checks
    the sample std within 3%, the mean, and the normal shape) and whose bias is exactly zero.
    With ``dropout == 0`` the head is that ``nn.Linear`` itself; with ``dropout > 0`` it is
    ``nn.Sequential(nn.Dropout(dropout), linear)``: dropout first, on the features.

    The head's parameters are on the old head's device and in its dtype, and they require
    grad (even when the rest of the model was frozen). Nothing else in the model changes.

    Args:
        model: a model with a ``fc`` attribute (``resnet18``, the backbone); changed in place.
        num_classes: outputs of the new head, an int ``>= 1``.
        dropout: dropout probability in ``[0, 1)``: ``0`` is allowed (no ``nn.Dropout``
            at all), ``1`` is not.

    Returns:
        ``model`` itself.

    Raises:
        ValueError: ``num_classes < 1``, or ``dropout`` outside ``[0, 1)``; raised before
            the model is changed.

    """
    # TODO(4.3): validate; read in_features from the old head; build, initialise and install
    #   the new head on the old head's device and dtype.
    raise NotImplementedError("4.3: replace_head")


def adapt_first_conv(model: nn.Module) -> nn.Module:
    """Make a model built for RGB images take one-channel (grey) images, with the same output.

    ``model.conv1``, an ``nn.Conv2d`` with 3 input channels and ``groups == 1``, is replaced
    by a new ``nn.Conv2d`` with 1 input channel and the same ``out_channels``,
    ``kernel_size``, ``stride``, ``padding``, ``dilation``, ``padding_mode`` and bias setting.
    Its weight is the old weight summed over the input channels,
    ``old.weight.sum(dim=1, keepdim=True)`` (shape ``(out_channels, 1, kh, kw)``), and its bias
    (if any) a copy of the old bias. A convolution is linear in its input channels, so for a
    grey batch ``x`` of shape ``(N, 1, H, W)`` the adapted model gives what the old model
    gave on ``x.repeat(1, 3, 1, 1)`` (the grader compares with rtol=1e-4, atol=1e-5 in
    float32, on the device the model is on).

    The new conv's parameters are trainable ``nn.Parameter``s on the old conv's device and in
    its dtype; the old conv's weight tensor is not modified in place.

    Returns:
        ``model`` itself (changed in place).

    Raises:
        ValueError: ``model.conv1`` does not have exactly 3 input channels (e.g. it was
            already adapted), or has ``groups != 1``; the model is left unchanged.

    """
    # TODO(4.3): validate conv1; build a 1-channel Conv2d with the same settings and copy the
    #   summed weight (and the bias) into it under torch.no_grad().
    raise NotImplementedError("4.3: adapt_first_conv")
