"""Known mistake: out_dir/tb is not cleared, so old runs and a rerun's second event file pile up next to the new ones.

Expect: remove out_dir/tb first
"""

from __future__ import annotations

import csv
import json
import os
import platform
from pathlib import Path
from typing import Any

import torch
import torchvision
from rich.console import Console


def run_experiments(
    config_path: str | os.PathLike[str], *, console: Console | None = None
) -> list[dict[str, Any]]:
    config_path = Path(config_path)
    config = load_config(config_path)
    out = config_path.parent / config["out_dir"]
    out.mkdir(parents=True, exist_ok=True)
    tb = out / "tb"
    data = _data(config["labels_per_class"])
    rows, curves = [], []
    for method in config["methods"]:
        for seed in config["seeds"]:
            row, losses = _run_one(method, seed, config, data, tb)
            rows.append(row)
            curves.append((f"{method} seed {seed}", losses))
    with (out / "results.csv").open("w", newline="", encoding="utf-8") as f:
        writer = csv.DictWriter(f, fieldnames=ROW_KEYS)
        writer.writeheader()
        writer.writerows(rows)
    record = {
        "config": config,
        "versions": {
            "torch": str(torch.__version__),
            "torchvision": str(torchvision.__version__),
            "python": platform.python_version(),
        },
        "device": DEVICE,
        "runs": rows,
    }
    (out / "results.json").write_text(json.dumps(record, indent=2) + "\n", encoding="utf-8")
    lines = _summary(rows, config["methods"])
    (out / "comparison.md").write_text(_markdown(lines), encoding="utf-8")
    _plot(curves, out / "loss_curves.png")
    (console if console is not None else Console()).print(_table(lines))
    return rows
