"""Known mistake: resolve_config updates DEFAULT_CONFIG itself instead of a copy.

Expect: DEFAULT_CONFIG itself
"""

from __future__ import annotations

import copy
from typing import Any


def resolve_config(config: dict[str, Any]) -> dict[str, Any]:
    unknown = sorted(set(config) - set(DEFAULT_CONFIG))
    if unknown:
        raise ValueError(f"unknown config keys {unknown}; known keys: {sorted(DEFAULT_CONFIG)}")
    resolved = DEFAULT_CONFIG
    resolved.update(copy.deepcopy(config))
    resolved["hidden_sizes"] = [int(h) for h in resolved["hidden_sizes"]]
    for key, allowed in _CHOICES.items():
        if resolved[key] not in allowed:
            raise ValueError(f"config[{key!r}] must be one of {allowed}, got {resolved[key]!r}")
    return resolved
