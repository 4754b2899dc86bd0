"""Known mistake: every BatchNorm layer goes to eval mode, also the ones in an unfrozen block.

Expect: so it is being trained and is not frozen
"""

from __future__ import annotations

from torch import nn
from torch.nn.modules.batchnorm import _BatchNorm


def set_trainable_mode(model: nn.Module) -> nn.Module:
    model.train()
    for module in model.modules():
        if isinstance(module, _BatchNorm):
            module.eval()
    return model
