"""Known mistake: the decay runs the wrong way, so the stem gets base_lr and the head the smallest rate.

Expect: the order is reversed
"""

from __future__ import annotations


def layerwise_lrs(base_lr, decay, names=DEFAULT_NAMES):
    if not base_lr > 0:
        raise ValueError(f"base_lr must be > 0, got {base_lr}")
    if not 0 < decay <= 1:
        raise ValueError(f"decay must satisfy 0 < decay <= 1, got {decay}")
    names = list(names)
    if not names or len(set(names)) != len(names):
        raise ValueError("names must be at least one distinct name")
    n = len(names)
    return {name: float(base_lr * decay ** (n - 1 - i)) for i, name in enumerate(names)}
