"""Known mistake: the percentiles are read off the sorted list as sorted[int(q * n)], without interpolation.

Expect: nearest-rank
"""

from __future__ import annotations


def _quantile(values, q):
    s = sorted(values)
    return float(s[min(len(s) - 1, int(q * len(s)))])
