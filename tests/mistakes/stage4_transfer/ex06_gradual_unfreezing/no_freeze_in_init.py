"""Known mistake: the constructor trusts the scheduled modules to be frozen already and freezes nothing.

Expect: the constructor freezes every parameter of every scheduled module
"""

from __future__ import annotations

import torch
from torch import nn


class GradualUnfreezer(GradualUnfreezer):
    def __init__(self, model, optimizer, schedule, *, lr):
        flags = {p: p.requires_grad for p in model.parameters()}
        super().__init__(model, optimizer, schedule, lr=lr)
        for p, flag in flags.items():  # undo the freezing
            p.requires_grad_(flag)
