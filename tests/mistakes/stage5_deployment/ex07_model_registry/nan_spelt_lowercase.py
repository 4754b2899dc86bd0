"""Known mistake: every value goes through repr(float), so an empty tracker's quantiles read nan.

Expect: spelt as Prometheus spells it
"""

from __future__ import annotations


def _number(value: float) -> str:
    return repr(float(value))
