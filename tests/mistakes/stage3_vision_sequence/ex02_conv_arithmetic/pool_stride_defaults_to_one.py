"""Known mistake: pool_output_size treats stride=None as stride 1, as for a convolution.

Expect: stride=None means stride = kernel
"""

from __future__ import annotations

import math


def pool_output_size(
    size: int,
    kernel: int,
    stride: int | None = None,
    padding: int = 0,
    dilation: int = 1,
    ceil_mode: bool = False,
) -> int:
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
