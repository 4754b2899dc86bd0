"""Known mistake: the constructor freezes each module as it checks it, so a refused schedule leaves the model half frozen.

Expect: a refused schedule leaves the model as it was
"""

from __future__ import annotations

import torch
from torch import nn


class GradualUnfreezer(GradualUnfreezer):
    def __init__(self, model, optimizer, schedule, *, lr):
        for epoch in sorted(schedule):
            for name in schedule[epoch]:
                try:
                    module = model.get_submodule(name)
                except AttributeError:
                    continue  # the full check below names it
                if epoch >= 0:
                    module.requires_grad_(False)
        super().__init__(model, optimizer, schedule, lr=lr)
