"""Known mistake: metrics_text writes the values rounded to 4 decimals, losing precision.

Expect: repr()
"""

from __future__ import annotations

import math


def _number(value: float) -> str:
    if math.isnan(value):
        return "NaN"
    return f"{value:.4f}"
