"""Known mistake: only nn.BatchNorm2d layers are considered, not BatchNorm1d/3d or SyncBatchNorm.

Expect: bn1d (BatchNorm1d) is in train mode, expected eval mode
"""

from __future__ import annotations

from torch import nn


def set_trainable_mode(model: nn.Module) -> nn.Module:
    model.train()
    for parent in model.modules():
        for child in parent.children():
            if type(child) is not nn.BatchNorm2d:
                continue
            own = list(child.parameters())
            params = own if own else list(parent.parameters())
            if params and not any(p.requires_grad for p in params):
                child.eval()
    return model
