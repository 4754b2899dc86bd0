"""Known mistake: a BatchNorm layer counts as frozen when its weight is frozen, whatever its bias.

Expect: its bias requires grad
"""

from __future__ import annotations

from torch import nn
from torch.nn.modules.batchnorm import _BatchNorm


def set_trainable_mode(model: nn.Module) -> nn.Module:
    model.train()
    for module in model.modules():
        if isinstance(module, _BatchNorm) and module.weight is not None:
            if not module.weight.requires_grad:
                module.eval()
    return model
