"""Known mistake: the convolution formula forgets the dilation.

Expect: dilation is ignored
Expect: nn.Conv2d gives
"""

from __future__ import annotations


def conv2d_output_size(
    size: int, kernel: int, stride: int = 1, padding: int = 0, dilation: int = 1
) -> int:
    span = kernel
    out = (size + 2 * padding - span) // stride + 1
    if out < 1:
        raise ValueError(
            f"a dilated kernel spanning {span} does not fit into {size} + 2 * {padding} inputs"
        )
    return out
