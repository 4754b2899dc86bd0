"""Known mistake: past total_steps the cosine goes on, so the learning rate rises again.

Expect: after total_steps the lr rises again
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
        progress = (step - warmup_steps) / (total_steps - warmup_steps)
        return 0.5 * (1.0 + math.cos(math.pi * progress))

    return LambdaLR(optimizer, multiplier)
