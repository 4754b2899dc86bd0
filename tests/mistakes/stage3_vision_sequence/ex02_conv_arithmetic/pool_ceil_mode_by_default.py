"""Known mistake: pool_output_size rounds up unless told otherwise (ceil_mode defaults to True).

Expect: ceil_mode=false
"""

from __future__ import annotations

import math


def pool_output_size(
    size: int,
    kernel: int,
    stride: int | None = None,
    padding: int = 0,
    dilation: int = 1,
    ceil_mode: bool = True,
) -> int:
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
