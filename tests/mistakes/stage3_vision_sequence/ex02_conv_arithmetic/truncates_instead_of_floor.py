"""Known mistake: int() truncates toward zero, so a kernel that does not fit gives 1, not an error.

Expect: truncate
Expect: raise ValueError
"""

from __future__ import annotations


def conv2d_output_size(
    size: int, kernel: int, stride: int = 1, padding: int = 0, dilation: int = 1
) -> int:
    span = dilation * (kernel - 1) + 1
    out = int((size + 2 * padding - span) / stride) + 1
    if out < 1:
        raise ValueError(
            f"a dilated kernel spanning {span} does not fit into {size} + 2 * {padding} inputs"
        )
    return out
