"""Known mistake: the scheduler sets the first group's learning rate on every group, losing the ratios.

Expect: no longer keep their ratios
"""

from __future__ import annotations


def make_scheduler(optimizer, total_steps, warmup_steps=0):
    if total_steps < 1:
        raise ValueError(f"total_steps must be >= 1, got {total_steps}")
    if not 0 <= warmup_steps < total_steps:
        raise ValueError(f"warmup_steps must satisfy 0 <= warmup_steps < {total_steps}")
    peak = optimizer.param_groups[0]["lr"]

    def multiplier(step):
        if step < warmup_steps:
            m = step / warmup_steps
        else:
            progress = min(1.0, (step - warmup_steps) / (total_steps - warmup_steps))
            m = 0.5 * (1.0 + math.cos(math.pi * progress))
        return m * peak

    lambdas = [
        (lambda s, base=g["lr"]: multiplier(s) / base) for g in optimizer.param_groups
    ]
    return LambdaLR(optimizer, lambdas)
