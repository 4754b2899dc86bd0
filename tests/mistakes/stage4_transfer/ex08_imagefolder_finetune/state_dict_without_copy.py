"""Known mistake: the best weights are kept as model.state_dict() (then .cpu()), references that later epochs overwrite.

Expect: deepcopy
"""

from __future__ import annotations

import torch
from torch import nn


def _cpu_copy(model: nn.Module) -> dict[str, torch.Tensor]:
    return {k: v.cpu() for k, v in model.state_dict().items()}
