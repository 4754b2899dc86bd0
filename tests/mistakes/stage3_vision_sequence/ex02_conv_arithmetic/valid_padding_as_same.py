"""Known mistake: feature_shape treats padding="valid" like "same", keeping H and W.

Expect: padding="valid" means no padding at all
"""

from __future__ import annotations

import math
from collections.abc import Sequence

from torch import nn


def feature_shape(model: nn.Sequential, input_shape: Sequence[int]) -> tuple[int, ...]:
    shape = tuple(int(s) for s in input_shape)
    for layer in model:
        if isinstance(layer, nn.Conv2d):
            n, _, h, w = shape
            kh, kw = _pair(layer.kernel_size)
            dh, dw = _pair(layer.dilation)
            if layer.padding in ("same", "valid"):
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
