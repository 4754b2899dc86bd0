"""2.6 Early stopping with a restored best model.

Implement the class below, then run ``make check ex=2.6``.
The lesson is in README.md next to this file.
"""

from __future__ import annotations

import torch  # noqa: F401 (best_state holds tensors)
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
        # TODO(2.6): Remember the settings and start with no best score and a zero counter.
        raise NotImplementedError("2.6: EarlyStopping.__init__")

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
        # TODO(2.6): Compare with best_score +- min_delta; on improvement copy the state_dict.
        raise NotImplementedError("2.6: EarlyStopping.step")

    def restore_best(self, model: nn.Module) -> None:
        """Load ``best_state`` back into ``model``, in place.

        Every parameter and buffer takes its value from the best call; the model's
        Parameters stay the same objects (an optimizer holding them keeps working) and stay
        on their device. ``best_state`` itself is not handed to the model: training the model
        afterwards must not change it, so a second ``restore_best`` gives the same weights
        again. Call it only after at least one ``step``.
        """
        # TODO(2.6): Put the saved values back into the model's own tensors.
        raise NotImplementedError("2.6: EarlyStopping.restore_best")
