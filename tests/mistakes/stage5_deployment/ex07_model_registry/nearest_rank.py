"""Known mistake: the quantile is the nearest rank (np.quantile method='nearest'), not the linear interpolation the contract states.

Expect: interpolate linearly
"""

from __future__ import annotations

import math

import numpy as np


class LatencyTracker(LatencyTracker):  # noqa: F821 (the reference's class, overridden)
    def quantile(self, q: float) -> float:
        if not 0.0 <= q <= 1.0:
            raise ValueError(f"q must be in [0, 1], got {q}")
        if not self._window:
            return math.nan
        return float(np.quantile(np.fromiter(self._window, dtype=np.float64), q, method="nearest"))
