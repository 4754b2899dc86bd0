"""Known mistake: observe records any number, negative, NaN and infinite latencies included.

Expect: expected ValueError
"""

from __future__ import annotations


class LatencyTracker(LatencyTracker):  # noqa: F821 (the reference's class, overridden)
    def observe(self, seconds: float) -> None:
        self._window.append(float(seconds))
        self._count += 1
        self._sum += float(seconds)
