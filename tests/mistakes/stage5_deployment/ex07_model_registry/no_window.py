"""Known mistake: the tracker keeps every latency in a list, so the quantiles never forget old ones.

Expect: keep only the last window
"""

from __future__ import annotations

import math

import numpy as np


class LatencyTracker(LatencyTracker):  # noqa: F821 (the reference's class, overridden)
    def __init__(self, window: int = 1000) -> None:
        super().__init__(window)
        self._all: list[float] = []

    def observe(self, seconds: float) -> None:
        super().observe(seconds)
        self._all.append(float(seconds))

    def quantile(self, q: float) -> float:
        if not 0.0 <= q <= 1.0:
            raise ValueError(f"q must be in [0, 1], got {q}")
        if not self._all:
            return math.nan
        return float(np.quantile(np.array(self._all), q))
