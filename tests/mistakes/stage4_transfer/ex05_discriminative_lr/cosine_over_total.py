"""Known mistake: the cosine progress is s / T, ignoring that the warmup used the first W steps.

Expect: the cosine runs over all total_steps
"""

from __future__ import annotations


def make_scheduler(optimizer, total_steps, warmup_steps=0):
    if total_steps < 1:
        raise ValueError(f"total_steps must be >= 1, got {total_steps}")
    if not 0 <= warmup_steps < total_steps:
        raise ValueError(f"warmup_steps must satisfy 0 <= warmup_steps < {total_steps}")

    def multiplier(step):
        if step < warmup_steps:
            return step / warmup_steps
        return 0.5 * (1.0 + math.cos(math.pi * min(1.0, step / total_steps)))

    return LambdaLR(optimizer, multiplier)
