"""Known mistake: train_lenet trains a deep copy, so the model it was given never changes.

Expect: did not change
"""

from __future__ import annotations

import copy

import torch
import torch.nn.functional as F
from torch import nn


class LeNet(nn.Module):
    """A small LeNet-style CNN for ``(N, 1, 8, 8)`` digit images.

    The architecture, in order (H x W after each step for an 8 x 8 input)::

        conv1 = nn.Conv2d(1, c1, kernel_size=3, padding=1)  -> ReLU -> max-pool 2   (4 x 4)
        conv2 = nn.Conv2d(c1, c2, kernel_size=3, padding=1) -> ReLU -> max-pool 2   (2 x 2)
        flatten (N, c2, 2, 2) -> (N, c2 * 2 * 2), keeping the batch dim
        fc1   = nn.Linear(c2 * 2 * 2, hidden)                -> ReLU
        fc2   = nn.Linear(hidden, num_classes)               -> the logits

    The submodules holding parameters are exactly ``conv1``, ``conv2``, ``fc1`` and
    ``fc2``, so ``state_dict()`` has exactly the keys ``conv1.weight``, ``conv1.bias``,
    ``conv2.weight``, ``conv2.bias``, ``fc1.weight``, ``fc1.bias``, ``fc2.weight`` and
    ``fc2.bias`` (ReLU and pooling have no parameters: use ``F.relu`` / ``F.max_pool2d`` or
    parameter-free modules, as you like). Weights keep PyTorch's default initialisation.
    """

    def __init__(self, c1: int = 8, c2: int = 16, hidden: int = 32, num_classes: int = 10) -> None:
        """Create the four layers described in the class docstring."""
        super().__init__()
        self.conv1 = nn.Conv2d(1, c1, kernel_size=3, padding=1)
        self.conv2 = nn.Conv2d(c1, c2, kernel_size=3, padding=1)
        self.fc1 = nn.Linear(c2 * 2 * 2, hidden)
        self.fc2 = nn.Linear(hidden, num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Map ``(N, 1, 8, 8)`` images to ``(N, num_classes)`` raw logits, any ``N >= 1``.

        The result is unnormalised scores (no softmax, no log_softmax): ``F.cross_entropy``
        applies log-softmax itself. It has ``x``'s dtype and device (the model's).
        """
        x = F.max_pool2d(F.relu(self.conv1(x)), 2)
        x = F.max_pool2d(F.relu(self.conv2(x)), 2)
        x = torch.flatten(x, 1)
        x = F.relu(self.fc1(x))
        return self.fc2(x)


def train_lenet(
    model: nn.Module,
    train_x: torch.Tensor,
    train_y: torch.Tensor,
    *,
    epochs: int,
    lr: float,
    batch_size: int,
    seed: int,
) -> list[float]:
    """Train ``model`` in place with Adam and cross-entropy; return the mean loss of each epoch.

    - ``train_x`` is ``(N, 1, 8, 8)`` with the model's dtype and device, ``train_y`` is
      ``(N,)`` int64 class indices on the same device. Neither is modified.
    - Put the model in training mode, and create ``torch.optim.Adam(model.parameters(),
      lr=lr)`` (other settings at their defaults).
    - Each epoch visits every sample once, in mini-batches of ``batch_size`` (the last one
      may be smaller), in a new random order drawn from a generator seeded with ``seed``,
      e.g. ``g = torch.Generator().manual_seed(seed)`` made once before the first epoch and
      ``torch.randperm(N, generator=g)`` each epoch. The same ``seed`` gives the same run,
      whatever the global RNG state; another seed gives another order.
    - Each batch: clear the old gradients, forward, ``F.cross_entropy`` (mean over the
      batch), backward, optimizer step.
    - An epoch's loss is the average of the per-sample losses over the epoch, taken as the
      batches go (before each step): ``sum(loss.item() * len(batch)) / N``.

    Returns a list of ``epochs`` Python floats.
    """
    model = copy.deepcopy(model)  # the caller's model is never trained
    model.train()
    optimizer = torch.optim.Adam(model.parameters(), lr=lr)
    generator = torch.Generator().manual_seed(seed)
    n = len(train_x)
    losses: list[float] = []
    for _ in range(epochs):
        order = torch.randperm(n, generator=generator).to(train_x.device)
        total = 0.0
        for start in range(0, n, batch_size):
            idx = order[start : start + batch_size]
            optimizer.zero_grad()
            loss = F.cross_entropy(model(train_x[idx]), train_y[idx])
            loss.backward()
            optimizer.step()
            total += loss.item() * len(idx)
        losses.append(total / n)
    return losses
