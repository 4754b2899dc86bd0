"""Known mistake: count reports how many latencies are in the window, not how many were observed.

Expect: not only the window
"""

from __future__ import annotations


class LatencyTracker(LatencyTracker):  # noqa: F821 (the reference's class, overridden)
    @property
    def count(self) -> int:
        return len(self._window)
