"""Known mistake: lr is converted with float(...) before it is checked, so YAML's string '1e-3' is accepted.

Expect: as the string '1e-3'
"""

from __future__ import annotations

import math
import os
from pathlib import Path
from typing import Any

import yaml


def load_config(path: str | os.PathLike[str]) -> dict[str, Any]:
    data = yaml.safe_load(Path(path).read_text(encoding="utf-8"))
    if not isinstance(data, dict):
        raise ValueError(f"{path}: expected a YAML mapping of config keys, got {data!r}")
    for key in data:
        if key not in KEYS:
            raise ValueError(f"unknown config key {key!r}; the known keys are {', '.join(KEYS)}")
    for key in ("methods", "seeds"):
        if key not in data:
            raise ValueError(f"config key {key!r} is required")
    config = {**DEFAULTS, **data}
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
    labels, epochs, out_dir = config["labels_per_class"], config["epochs"], config["out_dir"]
    if not _is_int(labels) or not 1 <= labels <= MAX_LABELS_PER_CLASS:
        raise _bad("labels_per_class", labels, "an int from 1 to 100")
    if not _is_int(epochs) or epochs < 1:
        raise _bad("epochs", epochs, "an int >= 1")
    try:
        lr = float(config["lr"])
    except (TypeError, ValueError):
        raise _bad("lr", config["lr"], "a number") from None
    if isinstance(config["lr"], bool) or not math.isfinite(lr) or lr <= 0:
        raise _bad("lr", config["lr"], "a finite number > 0")
    if not isinstance(out_dir, str) or not out_dir:
        raise _bad("out_dir", out_dir, "a non-empty string")
    return {
        "methods": list(methods),
        "seeds": list(seeds),
        "labels_per_class": labels,
        "epochs": epochs,
        "lr": lr,
        "out_dir": out_dir,
    }
