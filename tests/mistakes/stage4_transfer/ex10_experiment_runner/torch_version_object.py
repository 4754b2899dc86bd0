"""Known mistake: the row stores torch.__version__ itself, a TorchVersion (a str subclass), not a plain str.

Expect: store str(torch.__version__), a plain str
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F
from torch.utils.tensorboard import SummaryWriter


def _run_one(
    method: str, seed: int, config: dict[str, Any], data: dict[str, torch.Tensor], tb: Path
) -> tuple[dict[str, Any], list[float]]:
    started = time.perf_counter()
    model = _build(method, seed)
    trainable = [p for p in model.parameters() if p.requires_grad]
    optimizer = torch.optim.Adam(trainable, lr=config["lr"])
    losses: list[float] = []
    accuracy = 0.0
    with SummaryWriter(log_dir=str(tb / f"{method}-seed{seed}")) as writer:
        for epoch in range(1, config["epochs"] + 1):
            model.train(method != "linear_probe")
            optimizer.zero_grad()
            loss = F.cross_entropy(model(data["x"]), data["y"])
            loss.backward()
            optimizer.step()
            losses.append(loss.item())
            accuracy = _accuracy(model, data["x_test"], data["y_test"])
            writer.add_scalar("loss", losses[-1], global_step=epoch)
            writer.add_scalar("accuracy", accuracy, global_step=epoch)
    row = {
        "method": method,
        "seed": seed,
        "accuracy": accuracy,
        "final_loss": losses[-1],
        "duration_s": time.perf_counter() - started,
        "torch": torch.__version__,
        "device": DEVICE,
        "epochs": config["epochs"],
        "labels_per_class": config["labels_per_class"],
    }
    return row, losses
