"""Known mistake: best_state is copied on every call, not only when the metric improves.

Expect: take the copy only on an improvement
"""

from __future__ import annotations

import torch
from torch import nn


class EarlyStopping:
    """Stop training when a validation metric has stopped improving, and keep the best weights.

    Call ``step(metric, model)`` once per epoch, after validation. Attributes, read by the
    caller after each call (their values before the first call are up to you):

    - ``best_score``: the best metric seen so far (a float);
    - ``best_epoch``: the 0-based index of the ``step`` call that produced ``best_score``;
    - ``counter``: how many calls in a row have passed without an improvement
      (0 right after an improvement);
    - ``best_state``: a copy of ``model.state_dict()`` taken at the best call: a dict of
      name -> tensor, with tensors that are copies (not views of the live parameters),
      on the model's device.
    """

    def __init__(self, patience: int, min_delta: float = 0.0, mode: str = "min") -> None:
        """Configure the rule.

        - ``patience`` (>= 1): how many calls in a row without improvement end training;
        - ``min_delta`` (>= 0): an improvement must be larger than this to count;
        - ``mode``: ``"min"`` (lower is better, e.g. a loss) or ``"max"`` (higher is better,
          e.g. an accuracy); anything else raises ``ValueError``.
        """
        if mode not in ("min", "max"):
            raise ValueError(f"mode must be 'min' or 'max', got {mode!r}")
        self.patience = patience
        self.min_delta = min_delta
        self.mode = mode
        self.best_score: float | None = None
        self.best_epoch = -1
        self.counter = 0
        self.best_state: dict[str, torch.Tensor] | None = None
        self._calls = 0

    def _improves(self, metric: float) -> bool:
        if self.best_score is None:
            return True
        if self.mode == "min":
            return metric < self.best_score - self.min_delta
        return metric > self.best_score + self.min_delta

    def step(self, metric: float, model: nn.Module) -> bool:
        """Record this epoch's ``metric``; return True when training should stop.

        - The first call always counts as an improvement.
        - Later, in mode ``"min"`` the metric improves when ``metric < best_score -
          min_delta``; in mode ``"max"`` when ``metric > best_score + min_delta``. Strictly:
          a tie, or a gain of ``min_delta`` or less, is not an improvement.
        - On an improvement: ``best_score = metric``, ``best_epoch`` = this call's index,
          ``counter = 0``, and ``best_state`` becomes a fresh copy of ``model.state_dict()``
          (parameters and buffers, cloned so that later training cannot change it).
        - Otherwise ``counter`` grows by one, and nothing else changes.
        - Returns ``counter >= patience``: True on the ``patience``-th call in a row without
          an improvement (and on later calls, if the caller goes on).

        The model itself is not changed.
        """
        index = self._calls
        self._calls += 1
        if self._improves(metric):
            self.best_score = float(metric)
            self.best_epoch = index
            self.counter = 0
        else:
            self.counter += 1
        self.best_state = {k: v.detach().clone() for k, v in model.state_dict().items()}
        return self.counter >= self.patience

    def restore_best(self, model: nn.Module) -> None:
        """Load ``best_state`` back into ``model``, in place.

        Every parameter and buffer takes its value from the best call; the model's
        Parameters stay the same objects (an optimizer holding them keeps working) and stay
        on their device. ``best_state`` itself is not handed to the model: training the model
        afterwards must not change it, so a second ``restore_best`` gives the same weights
        again. Call it only after at least one ``step``.
        """
        if self.best_state is None:
            raise RuntimeError("restore_best() called before any step()")
        model.load_state_dict(self.best_state)
