"""2.9 fit(): training on real digits, with a log and a config.

Implement resolve_config, build_model and fit below, then run ``make check ex=2.9``.
The lesson is in README.md next to this file.

Everything in stage 2 comes together here: a config, a model, seeded data loaders, a
train / validate loop, a schedule, a best checkpoint, early stopping and a log file.
``fit`` may be long: split it into helper functions of your own (for example one training
epoch, one evaluation), and keep ``DEFAULT_CONFIG`` and ``LOG_COLUMNS`` as they are.
"""

from __future__ import annotations

import copy  # noqa: F401
import csv  # noqa: F401
import json  # noqa: F401
import random  # noqa: F401
from pathlib import Path
from typing import Any

import numpy as np  # noqa: F401
import torch
from torch import nn
from torch.nn import functional as F  # noqa: F401
from torch.utils.data import DataLoader, TensorDataset  # noqa: F401

from pytorch_path.data import digits_split  # noqa: F401

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
    # TODO(2.9): Check the keys, merge over a copy of the defaults, check the two choices.
    raise NotImplementedError("2.9: resolve_config")


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
    # TODO(2.9): Collect the layers in a list, then nn.Sequential(*layers).
    raise NotImplementedError("2.9: build_model")


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
    # TODO(2.9): Config and files, seeds, data, model and optimizer, then the epoch loop.
    raise NotImplementedError("2.9: fit")
