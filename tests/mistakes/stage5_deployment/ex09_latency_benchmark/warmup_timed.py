"""Known mistake: the warm-up calls are timed too, and their durations go into the statistics.

Expect: warm-up calls were timed
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
    kind = torch.device(device).type
    durations = []
    for _ in range(warmup + iters):
        if kind == "cuda":
            torch.cuda.synchronize(device)
        start = clock()
        fn()
        if kind == "cuda":
            torch.cuda.synchronize(device)
        durations.append(clock() - start)
    return {
        "p50": _quantile(durations, 0.5),
        "p95": _quantile(durations, 0.95),
        "mean": math.fsum(durations) / len(durations),
        "min": min(durations),
        "iters": iters,
    }
