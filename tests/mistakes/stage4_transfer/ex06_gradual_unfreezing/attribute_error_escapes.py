"""Known mistake: an unknown module name lets get_submodule's AttributeError escape instead of a ValueError.

Expect: expected ValueError to be raised, got AttributeError
"""

from __future__ import annotations

import torch
from torch import nn


class GradualUnfreezer(GradualUnfreezer):
    def __init__(self, model, optimizer, schedule, *, lr):
        for names in schedule.values():
            for name in names:
                model.get_submodule(name)  # AttributeError for a name that is not there
        super().__init__(model, optimizer, schedule, lr=lr)
