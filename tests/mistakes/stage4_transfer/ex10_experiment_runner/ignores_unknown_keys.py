"""Known mistake: load_config keeps only the keys it knows and silently drops the others (a typo goes unnoticed).

Expect: learning_rate
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import yaml


def load_config(path: str | os.PathLike[str]) -> dict[str, Any]:
    data = yaml.safe_load(Path(path).read_text(encoding="utf-8"))
    if not isinstance(data, dict):
        raise ValueError(f"{path}: expected a YAML mapping of config keys, got {data!r}")
    for key in ("methods", "seeds"):
        if key not in data:
            raise ValueError(f"config key {key!r} is required")
    config = {**DEFAULTS, **{k: v for k, v in data.items() if k in KEYS}}
    methods, seeds = config["methods"], config["seeds"]
    if (
        not isinstance(methods, list)
        or not methods
        or any(m not in METHODS for m in methods)
        or len(set(methods)) != len(methods)
    ):
        raise _bad("methods", methods, "a non-empty list of distinct method names")
    if (
        not isinstance(seeds, list)
        or not seeds
        or not all(_is_int(s) and 0 <= s <= MAX_SEED for s in seeds)
        or len(set(seeds)) != len(seeds)
    ):
        raise _bad("seeds", seeds, "a non-empty list of distinct ints")
    labels, epochs, lr, out_dir = (config[k] for k in KEYS[2:])
    if not _is_int(labels) or not 1 <= labels <= MAX_LABELS_PER_CLASS:
        raise _bad("labels_per_class", labels, "an int from 1 to 100")
    if not _is_int(epochs) or epochs < 1:
        raise _bad("epochs", epochs, "an int >= 1")
    if not isinstance(lr, (int, float)) or isinstance(lr, bool) or not lr > 0 or lr == float("inf"):
        raise _bad("lr", lr, "a finite number > 0")
    if not isinstance(out_dir, str) or not out_dir:
        raise _bad("out_dir", out_dir, "a non-empty string")
    return {
        "methods": list(methods),
        "seeds": list(seeds),
        "labels_per_class": labels,
        "epochs": epochs,
        "lr": float(lr),
        "out_dir": out_dir,
    }
