"""Known mistake: ints are checked with isinstance(value, int) alone, so YAML's true passes as the seed 1.

Expect: (a bool is not an int)
"""

from __future__ import annotations

from typing import Any


def _is_int(value: Any) -> bool:
    return isinstance(value, int)
