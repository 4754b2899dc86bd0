"""2.9 fit(): training on real digits, with a log and a config (reference solution)."""

from __future__ import annotations

import copy
import csv
import json
import random
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn
from torch.nn import functional as F
from torch.utils.data import DataLoader, TensorDataset

from pytorch_path.data import digits_split

#: Every key ``fit`` understands, with the value used when the caller leaves it out.
DEFAULT_CONFIG: dict[str, Any] = {
    "seed": 0,  # seeds model initialisation, dropout and the shuffling of the training data
    "split_seed": 0,  # passed to digits_split(seed=...): which images are train / val / test
    "hidden_sizes": [64],  # widths of the hidden layers, in order ([] = logistic regression)
    "dropout": 0.0,  # dropout probability after each hidden layer's ReLU
    "optimizer": "adam",  # "adam" (torch.optim.Adam) or "sgd" (torch.optim.SGD)
    "lr": 0.001,  # learning rate (the starting one, when a schedule changes it)
    "momentum": 0.9,  # SGD's momentum (ignored by Adam)
    "weight_decay": 0.0,  # L2 penalty, passed to the optimizer as weight_decay=
    "lr_schedule": "constant",  # "constant", or "cosine": CosineAnnealingLR(T_max=epochs)
    "epochs": 8,  # the most epochs to train
    "batch_size": 64,  # training batch size (every example once per epoch, shuffled)
    "patience": None,  # early stopping: stop after this many epochs without a new best
}

#: The columns of ``log.csv``, in order.
LOG_COLUMNS = ("epoch", "train_loss", "val_loss", "val_accuracy", "lr")

#: Pixels per digit image (8 x 8) and number of classes.
NUM_FEATURES = 64
NUM_CLASSES = 10

_CHOICES = {"optimizer": ("adam", "sgd"), "lr_schedule": ("constant", "cosine")}


def resolve_config(config: dict[str, Any]) -> dict[str, Any]:
    """Return the full config: ``DEFAULT_CONFIG`` updated with ``config``.

    - every key of ``DEFAULT_CONFIG`` is present; the caller's values win;
    - a key that ``DEFAULT_CONFIG`` does not have raises ``ValueError`` whose message names
      it (a typo such as ``"learning_rate"`` must not be silently ignored);
    - ``optimizer`` must be ``"adam"`` or ``"sgd"`` and ``lr_schedule`` ``"constant"`` or
      ``"cosine"``, else ``ValueError``;
    - returns a new dict, with ``hidden_sizes`` as a new ``list`` of ints (a tuple given by
      the caller becomes a list); neither ``config`` nor ``DEFAULT_CONFIG`` is changed, and
      the result shares no list with them.
    """
    unknown = sorted(set(config) - set(DEFAULT_CONFIG))
    if unknown:
        raise ValueError(f"unknown config keys {unknown}; known keys: {sorted(DEFAULT_CONFIG)}")
    resolved = copy.deepcopy(DEFAULT_CONFIG)
    resolved.update(copy.deepcopy(config))
    resolved["hidden_sizes"] = [int(h) for h in resolved["hidden_sizes"]]
    for key, allowed in _CHOICES.items():
        if resolved[key] not in allowed:
            raise ValueError(f"config[{key!r}] must be one of {allowed}, got {resolved[key]!r}")
    return resolved


def build_model(config: dict[str, Any]) -> nn.Module:
    """Build the MLP that ``config`` (a resolved config) describes, on the CPU.

    Exactly this ``nn.Sequential``::

        Flatten,
        then for each width h in config["hidden_sizes"]:
            Linear(previous width, h), ReLU, Dropout(config["dropout"]),
        then Linear(last width, 10)

    where the first "previous width" is 64 (the 8 x 8 pixels). Layers keep PyTorch's
    default initialisation. The model takes images ``(N, 1, 8, 8)`` (or ``(N, 64)``) and
    returns float32 logits ``(N, 10)``. The Dropout layers are there even when the
    probability is 0, so the ``state_dict`` keys depend only on the number of hidden layers.
    """
    layers: list[nn.Module] = [nn.Flatten()]
    width = NUM_FEATURES
    for hidden in config["hidden_sizes"]:
        layers += [nn.Linear(width, hidden), nn.ReLU(), nn.Dropout(config["dropout"])]
        width = hidden
    layers.append(nn.Linear(width, NUM_CLASSES))
    return nn.Sequential(*layers)


def make_optimizer(model: nn.Module, config: dict[str, Any]) -> torch.optim.Optimizer:
    """The optimizer that ``config`` asks for, over all of ``model``'s parameters."""
    if config["optimizer"] == "sgd":
        return torch.optim.SGD(
            model.parameters(),
            lr=config["lr"],
            momentum=config["momentum"],
            weight_decay=config["weight_decay"],
        )
    return torch.optim.Adam(
        model.parameters(), lr=config["lr"], weight_decay=config["weight_decay"]
    )


def make_scheduler(
    optimizer: torch.optim.Optimizer, config: dict[str, Any]
) -> torch.optim.lr_scheduler.LRScheduler | None:
    """The epoch-level learning-rate schedule, or None for a constant rate."""
    if config["lr_schedule"] == "cosine":
        return torch.optim.lr_scheduler.CosineAnnealingLR(optimizer, T_max=config["epochs"])
    return None


def _train_epoch(
    model: nn.Module,
    loader: DataLoader,
    optimizer: torch.optim.Optimizer,
    device: torch.device,
) -> float:
    """One pass over ``loader``; returns the mean training loss over the examples."""
    model.train()
    total, count = 0.0, 0
    for xb, yb in loader:
        xb, yb = xb.to(device), yb.to(device)
        optimizer.zero_grad()
        loss = F.cross_entropy(model(xb), yb)
        loss.backward()
        optimizer.step()
        total += loss.item() * len(yb)
        count += len(yb)
    return total / count


def _evaluate(
    model: nn.Module, x: torch.Tensor, y: torch.Tensor, device: torch.device
) -> tuple[float, float]:
    """Mean cross-entropy and accuracy of ``model`` on ``(x, y)``, in eval mode, no graph."""
    model.eval()
    with torch.no_grad():
        logits = model(x.to(device))
        y = y.to(device)
        loss = F.cross_entropy(logits, y).item()
        correct = (logits.argmax(dim=1) == y).sum().item()
    return loss, correct / len(y)


def fit(config: dict[str, Any], *, out_dir: Path, device: torch.device | str) -> dict[str, Any]:
    """Train an MLP on the shipped digits as ``config`` says; record the run in ``out_dir``.

    Set-up:

    - ``cfg = resolve_config(config)``; the caller's ``config`` is not changed.
    - ``out_dir`` (a ``pathlib.Path``) is created if missing, parents included. Write
      ``out_dir / "config.json"``: ``cfg`` as JSON, so that ``json.loads`` of the file
      equals ``cfg`` (every key, defaults included).
    - Seed everything from ``cfg["seed"]``: ``torch.manual_seed`` (and ``random`` / NumPy if
      you use them) before building the model, and a ``torch.Generator`` seeded with it for
      the training DataLoader. Two calls with the same config must write the same log; a
      different seed must give a different initialisation and a different shuffling order.
    - Data: ``digits_split(seed=cfg["split_seed"])``; the images as they come (float32 in
      [0, 1]: no rescaling, no standardising). Train on the ``"train"`` split only.
    - Model: ``build_model(cfg)``, called by that name (the grader watches the model it
      returns), moved to ``device`` and trained as it is. The grader evaluates ``best.pt``
      and replays the training steps with the model ``build_model``'s docstring describes,
      so the checks of ``fit`` need a correct ``build_model``. Optimizer over all its
      parameters: ``torch.optim.Adam(lr=, weight_decay=)`` or ``torch.optim.SGD(lr=,
      momentum=, weight_decay=)`` as ``cfg["optimizer"]`` says. For
      ``lr_schedule == "cosine"``:
      ``torch.optim.lr_scheduler.CosineAnnealingLR(optimizer, T_max=cfg["epochs"])``,
      stepped once at the end of every epoch.

    Each epoch ``e = 1, 2, ...`` (at most ``cfg["epochs"]``):

    - Train: ``model.train()``; one pass over the training split in batches of
      ``cfg["batch_size"]``, shuffled anew every epoch, every example exactly once (the
      last batch may be smaller). Per batch: zero the gradients, forward, mean
      cross-entropy, backward, optimizer step.
    - Validate: ``model.eval()`` under ``torch.no_grad()``, the whole validation split.
    - Append one row to ``out_dir / "log.csv"``, whose first line is the header
      ``epoch,train_loss,val_loss,val_accuracy,lr`` (``LOG_COLUMNS``):

      ==============  ===============================================================
      epoch           ``e``, an int from 1
      train_loss      mean cross-entropy over the epoch's training examples, from the
                      training steps themselves (weight each batch's loss by its size)
      val_loss        mean cross-entropy over the validation examples, after the epoch
      val_accuracy    fraction of validation examples classified correctly, in [0, 1]
      lr              the learning rate this epoch trained with
                      (``optimizer.param_groups[0]["lr"]`` before the scheduler steps)
      ==============  ===============================================================

      Write plain numbers in full precision: ``csv.writer`` with Python ints and floats
      does (``loss.item()``, not the tensor; no rounding).
    - Best model: when ``val_accuracy`` is higher than every earlier epoch's (strictly;
      a tie keeps the earlier epoch), this epoch is the best so far: save
      ``model.state_dict()`` to ``out_dir / "best.pt"`` (it must load with
      ``torch.load(path, map_location="cpu", weights_only=True)`` into ``build_model(cfg)``).
    - Early stopping: when ``cfg["patience"]`` is not None and the last ``patience``
      epochs brought no new best, stop after this epoch.

    After training: put the best weights back into the model and evaluate the test split
    once (eval mode, no_grad). The test split is used nowhere else.

    Returns a dict with (at least) these keys:

    - ``"best_val_accuracy"`` (float): the best epoch's ``val_accuracy``;
    - ``"best_epoch"`` (int): its epoch number, from 1;
    - ``"test_accuracy"`` (float): accuracy of the best model on the test split;
    - ``"epochs_run"`` (int): epochs trained, which is the number of rows in ``log.csv``.
    """
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
            if val_accuracy > best_accuracy:
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
