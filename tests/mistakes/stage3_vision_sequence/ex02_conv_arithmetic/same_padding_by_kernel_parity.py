"""Known mistake: same_padding decides by the parity of the kernel alone, ignoring the dilation.

Expect: effective (dilated) kernel
"""

from __future__ import annotations


def same_padding(kernel: int, dilation: int = 1) -> int:
    grow = dilation * (kernel - 1)
    if kernel % 2 == 0:
        raise ValueError(
            f"kernel={kernel}, dilation={dilation} spans {grow + 1} inputs, an even number: "
            "no symmetric padding keeps the size"
        )
    return grow // 2
