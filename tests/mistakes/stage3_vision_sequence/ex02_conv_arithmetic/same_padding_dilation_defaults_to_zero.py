"""Known mistake: same_padding's dilation defaults to 0 ("no dilation"); no dilation is 1.

Expect: dilation left at its default, 1
"""

from __future__ import annotations


def same_padding(kernel: int, dilation: int = 0) -> int:
    grow = dilation * (kernel - 1)
    if grow % 2:
        raise ValueError(
            f"kernel={kernel}, dilation={dilation} spans {grow + 1} inputs, an even number: "
            "no symmetric padding keeps the size"
        )
    return grow // 2
