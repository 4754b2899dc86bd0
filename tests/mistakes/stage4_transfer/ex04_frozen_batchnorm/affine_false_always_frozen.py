"""Known mistake: a BatchNorm layer without parameters (affine=False) always counts as frozen.

Expect: it has no parameters (affine=False) and its parent has trainable parameters
"""

from __future__ import annotations

from torch import nn
from torch.nn.modules.batchnorm import _BatchNorm


def set_trainable_mode(model: nn.Module) -> nn.Module:
    model.train()
    for module in model.modules():
        if isinstance(module, _BatchNorm) and not any(p.requires_grad for p in module.parameters()):
            module.eval()
    return model
