"""Known mistake: every module without a trainable parameter goes to eval mode, Dropout (no parameters at all) included.

Expect: Dropout must keep dropping
"""

from __future__ import annotations

from torch import nn


def set_trainable_mode(model: nn.Module) -> nn.Module:
    model.train()
    for module in model.modules():
        if not any(p.requires_grad for p in module.parameters()):
            module.eval()
    return model
