"""Known mistake: labels_per_class is checked as in range(1, 100), so 100 itself is refused.

Expect: both ends included
"""

from __future__ import annotations

MAX_LABELS_PER_CLASS = 99
