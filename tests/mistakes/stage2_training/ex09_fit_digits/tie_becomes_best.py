"""Known mistake: fit counts a tie as a new best (val_accuracy >= best instead of >), so a later epoch that only equals the best replaces best.pt and resets the patience count.

Expect: a later epoch becomes the best only if it is strictly higher
"""

from __future__ import annotations

import csv
import json
import random
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch.utils.data import DataLoader, TensorDataset

from pytorch_path.data import digits_split


def fit(config: dict[str, Any], *, out_dir: Path, device: torch.device | str) -> dict[str, Any]:
    cfg = resolve_config(config)
    device = torch.device(device)
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    (out_dir / "config.json").write_text(json.dumps(cfg, indent=2) + "\n", encoding="utf-8")

    random.seed(cfg["seed"])
    np.random.seed(cfg["seed"])
    torch.manual_seed(cfg["seed"])

    splits = digits_split(seed=cfg["split_seed"])
    train_loader = DataLoader(
        TensorDataset(*splits["train"]),
        batch_size=cfg["batch_size"],
        shuffle=True,
        generator=torch.Generator().manual_seed(cfg["seed"]),
    )
    model = build_model(cfg).to(device)
    optimizer = make_optimizer(model, cfg)
    scheduler = make_scheduler(optimizer, cfg)

    best_path = out_dir / "best.pt"
    best_accuracy, best_epoch, epochs_run, since_best = -1.0, 0, 0, 0
    with (out_dir / "log.csv").open("w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(LOG_COLUMNS)
        for epoch in range(1, cfg["epochs"] + 1):
            lr = optimizer.param_groups[0]["lr"]
            train_loss = _train_epoch(model, train_loader, optimizer, device)
            val_loss, val_accuracy = _evaluate(model, *splits["val"], device)
            writer.writerow([epoch, train_loss, val_loss, val_accuracy, lr])
            epochs_run = epoch
            if scheduler is not None:
                scheduler.step()
            if val_accuracy >= best_accuracy:
                best_accuracy, best_epoch, since_best = val_accuracy, epoch, 0
                torch.save(model.state_dict(), best_path)
            else:
                since_best += 1
                if cfg["patience"] is not None and since_best >= cfg["patience"]:
                    break

    model.load_state_dict(torch.load(best_path, map_location=device, weights_only=True))
    _, test_accuracy = _evaluate(model, *splits["test"], device)
    return {
        "best_val_accuracy": best_accuracy,
        "best_epoch": best_epoch,
        "test_accuracy": test_accuracy,
        "epochs_run": epochs_run,
    }
