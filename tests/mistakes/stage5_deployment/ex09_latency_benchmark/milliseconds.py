"""Known mistake: time_calls reports milliseconds instead of seconds.

Expect: milliseconds: return seconds
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
    for _ in range(warmup):
        fn()
    durations = []
    for _ in range(iters):
        if kind == "cuda":
            torch.cuda.synchronize(device)
        start = clock()
        fn()
        if kind == "cuda":
            torch.cuda.synchronize(device)
        durations.append((clock() - start) * 1000.0)  # "ms are easier to read"
    return {
        "p50": _quantile(durations, 0.5),
        "p95": _quantile(durations, 0.95),
        "mean": math.fsum(durations) / iters,
        "min": min(durations),
        "iters": iters,
    }
