"""Known mistake: warmup and iters are checked only after the warm-up has already run fn.

Expect: before the ValueError
"""

from __future__ import annotations

import math
import time

import torch


def time_calls(fn, *, warmup=3, iters=20, device="cpu", clock=time.perf_counter):
    kind = torch.device(device).type
    for _ in range(warmup):
        fn()
    if warmup < 0:
        raise ValueError(f"warmup must be >= 0, got {warmup}")
    if iters < 1:
        raise ValueError(f"iters must be >= 1, got {iters}")
    durations = []
    for _ in range(iters):
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
        "mean": math.fsum(durations) / iters,
        "min": min(durations),
        "iters": iters,
    }
