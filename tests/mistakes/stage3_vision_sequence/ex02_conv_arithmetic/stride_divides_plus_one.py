"""Known mistake: the + 1 is put inside the division, so the stride divides it too.

Expect: the stride divides the + 1
"""

from __future__ import annotations


def conv2d_output_size(
    size: int, kernel: int, stride: int = 1, padding: int = 0, dilation: int = 1
) -> int:
    span = dilation * (kernel - 1) + 1
    out = (size + 2 * padding - span + 1) // stride
    if out < 1:
        raise ValueError(
            f"a dilated kernel spanning {span} does not fit into {size} + 2 * {padding} inputs"
        )
    return out
