"""Known mistake: the convolution formula rounds the division up (ceil) instead of down.

Expect: rounded up (ceil)
Expect: floor
"""

from __future__ import annotations

import math


def conv2d_output_size(
    size: int, kernel: int, stride: int = 1, padding: int = 0, dilation: int = 1
) -> int:
    span = dilation * (kernel - 1) + 1
    out = math.ceil((size + 2 * padding - span) / stride) + 1
    if out < 1:
        raise ValueError(
            f"a dilated kernel spanning {span} does not fit into {size} + 2 * {padding} inputs"
        )
    return out
