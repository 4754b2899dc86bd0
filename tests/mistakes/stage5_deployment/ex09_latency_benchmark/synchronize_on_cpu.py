"""Known mistake: torch.cuda.synchronize() is called whatever the device, copied from a GPU recipe.

Expect: although the device is the CPU
"""

from __future__ import annotations

import math
import time

import torch


def time_calls(fn, *, warmup=3, iters=20, device="cpu", clock=time.perf_counter):
    if warmup < 0:
        raise ValueError(f"warmup must be >= 0, got {warmup}")
    if iters < 1:
        raise ValueError(f"iters must be >= 1, got {iters}")
    for _ in range(warmup):
        fn()
    durations = []
    for _ in range(iters):
        torch.cuda.synchronize()
        start = clock()
        fn()
        torch.cuda.synchronize()
        durations.append(clock() - start)
    return {
        "p50": _quantile(durations, 0.5),
        "p95": _quantile(durations, 0.95),
        "mean": math.fsum(durations) / iters,
        "min": min(durations),
        "iters": iters,
    }
