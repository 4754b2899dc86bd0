"""4.3 Model surgery: a new head and a one-channel stem (reference solution)."""

from __future__ import annotations

import torch
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
    if num_classes < 1:
        raise ValueError(f"num_classes must be at least 1, got {num_classes}")
    if not 0.0 <= dropout < 1.0:
        raise ValueError(f"dropout must be in [0, 1), got {dropout}")
    old = model.fc
    if isinstance(old, nn.Sequential):
        old = old[-1]
    linear = nn.Linear(
        old.in_features, num_classes, device=old.weight.device, dtype=old.weight.dtype
    )
    nn.init.kaiming_normal_(linear.weight, mode="fan_in", nonlinearity="relu")
    nn.init.zeros_(linear.bias)
    model.fc = nn.Sequential(nn.Dropout(dropout), linear) if dropout > 0 else linear
    return model


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
    old = model.conv1
    if old.in_channels != 3 or old.groups != 1:
        raise ValueError(
            f"conv1 must have 3 input channels and groups=1, got in_channels={old.in_channels}, "
            f"groups={old.groups}"
        )
    new = nn.Conv2d(
        1,
        old.out_channels,
        kernel_size=old.kernel_size,
        stride=old.stride,
        padding=old.padding,
        dilation=old.dilation,
        bias=old.bias is not None,
        padding_mode=old.padding_mode,
        device=old.weight.device,
        dtype=old.weight.dtype,
    )
    with torch.no_grad():
        new.weight.copy_(old.weight.sum(dim=1, keepdim=True))
        if old.bias is not None:
            new.bias.copy_(old.bias)
    model.conv1 = new
    return model
