"""Known mistake: one clock reading before and one after the whole loop, so every call gets the average.

Expect: around the whole loop
"""

from __future__ import annotations

import time


def time_calls(fn, *, warmup=3, iters=20, device="cpu", clock=time.perf_counter):
    if warmup < 0:
        raise ValueError(f"warmup must be >= 0, got {warmup}")
    if iters < 1:
        raise ValueError(f"iters must be >= 1, got {iters}")
    for _ in range(warmup):
        fn()
    start = clock()
    for _ in range(iters):
        fn()
    mean = (clock() - start) / iters
    return {"p50": mean, "p95": mean, "mean": mean, "min": mean, "iters": iters}
