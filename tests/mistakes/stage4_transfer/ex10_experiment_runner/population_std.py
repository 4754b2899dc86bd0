"""Known mistake: the comparison reports the population standard deviation (n) instead of the sample one (n - 1).

Expect: population std
"""

from __future__ import annotations

import math
import statistics
from typing import Any


def _summary(rows: list[dict[str, Any]], methods: list[str]) -> list[tuple[str, str, str, str]]:
    lines = []
    for method in methods:
        accs = [row["accuracy"] for row in rows if row["method"] == method]
        mean = statistics.fmean(accs)
        std = statistics.pstdev(accs) if len(accs) > 1 else math.nan
        lines.append((method, f"{mean:.4f}", f"{std:.4f}", str(len(accs))))
    return lines
