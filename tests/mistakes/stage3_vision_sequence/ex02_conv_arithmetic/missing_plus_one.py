"""Known mistake: the convolution formula leaves out the + 1 for the first window.

Expect: the + 1 is missing
"""

from __future__ import annotations


def conv2d_output_size(
    size: int, kernel: int, stride: int = 1, padding: int = 0, dilation: int = 1
) -> int:
    span = dilation * (kernel - 1) + 1
    out = (size + 2 * padding - span) // stride
    if out < 1:
        raise ValueError(
            f"a dilated kernel spanning {span} does not fit into {size} + 2 * {padding} inputs"
        )
    return out
