"""Known mistake: count_batches always uses n // batch_size, forgetting the short last batch when drop_last is False.

Expect: leftover
"""

from __future__ import annotations


def count_batches(n: int, batch_size: int, drop_last: bool) -> int:
    return n // batch_size
