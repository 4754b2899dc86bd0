"""Known mistake: set_trainable_mode never calls model.train(), so a model arriving in eval mode stays there.

Expect: expected train mode
Expect: Call model.train() first
"""

from __future__ import annotations

from torch import nn
from torch.nn.modules.batchnorm import _BatchNorm


def set_trainable_mode(model: nn.Module) -> nn.Module:
    for parent in model.modules():
        for child in parent.children():
            if not isinstance(child, _BatchNorm):
                continue
            own = list(child.parameters())
            params = own if own else list(parent.parameters())
            if params and not any(p.requires_grad for p in params):
                child.eval()
    return model
