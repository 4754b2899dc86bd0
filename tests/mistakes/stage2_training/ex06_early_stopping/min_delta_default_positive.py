"""Known mistake: EarlyStopping's min_delta defaults to 1e-4 instead of 0, so a tiny gain made without an explicit min_delta is not counted as an improvement.

Expect: default min_delta and mode: 0 and 'min'
"""

from __future__ import annotations

import torch
from torch import nn


class EarlyStopping:
    def __init__(self, patience: int, min_delta: float = 1e-4, mode: str = "min") -> None:
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
        index = self._calls
        self._calls += 1
        if self._improves(metric):
            self.best_score = float(metric)
            self.best_epoch = index
            self.counter = 0
            self.best_state = {k: v.detach().clone() for k, v in model.state_dict().items()}
        else:
            self.counter += 1
        return self.counter >= self.patience

    def restore_best(self, model: nn.Module) -> None:
        if self.best_state is None:
            raise RuntimeError("restore_best() called before any step()")
        model.load_state_dict(self.best_state)
